package raftstore

import (
	"context"
	"fmt"
	"log/slog"

	"go.etcd.io/raft/v3"
)

// RaftLogger adapts a slog.Logger to raft.Logger, for raft.Config.Logger. raft's own
// default logger writes to stderr and its global SetLogger is process-wide state; this
// keeps raft's messages in the node's structured log instead.
//
// Fatal and Panic log at error level and then panic: raft calls them on invariant
// violations, and a panic (unlike raft's default os.Exit) lets deferred cleanup run.
func RaftLogger(l *slog.Logger) raft.Logger {
	if l == nil {
		l = slog.New(slog.DiscardHandler)
	}
	return raftLogger{l: l}
}

type raftLogger struct{ l *slog.Logger }

func (r raftLogger) log(level slog.Level, msg string) {
	r.l.Log(context.Background(), level, msg, "component", "raft")
}

func (r raftLogger) Debug(v ...any) { r.log(slog.LevelDebug, fmt.Sprint(v...)) }
func (r raftLogger) Debugf(format string, v ...any) {
	r.log(slog.LevelDebug, fmt.Sprintf(format, v...))
}
func (r raftLogger) Info(v ...any)                 { r.log(slog.LevelInfo, fmt.Sprint(v...)) }
func (r raftLogger) Infof(format string, v ...any) { r.log(slog.LevelInfo, fmt.Sprintf(format, v...)) }
func (r raftLogger) Warning(v ...any)              { r.log(slog.LevelWarn, fmt.Sprint(v...)) }
func (r raftLogger) Warningf(format string, v ...any) {
	r.log(slog.LevelWarn, fmt.Sprintf(format, v...))
}
func (r raftLogger) Error(v ...any) { r.log(slog.LevelError, fmt.Sprint(v...)) }
func (r raftLogger) Errorf(format string, v ...any) {
	r.log(slog.LevelError, fmt.Sprintf(format, v...))
}
func (r raftLogger) Fatal(v ...any)                 { r.fail(fmt.Sprint(v...)) }
func (r raftLogger) Fatalf(format string, v ...any) { r.fail(fmt.Sprintf(format, v...)) }
func (r raftLogger) Panic(v ...any)                 { r.fail(fmt.Sprint(v...)) }
func (r raftLogger) Panicf(format string, v ...any) { r.fail(fmt.Sprintf(format, v...)) }

func (r raftLogger) fail(msg string) {
	r.log(slog.LevelError, msg)
	panic(msg)
}
