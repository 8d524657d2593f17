// Command compaction measures log compaction (cleanup.policy=compact):
//
//	go run ./bench/compaction cleaner [flags]   # cleaner throughput, in process
//	go run ./bench/compaction latency [flags]   # produce latency, cleaner idle vs cleaning
//
// cleaner writes --mib MiB of keyed records (keys drawn uniformly from
// --keys distinct keys) to a partlog.Log in a temporary directory, once per
// codec of --codecs (none, zstd), rolls the last segment so that everything
// is cleanable, then runs cleaning passes (partlog.Log.Compact with an offset
// map of --dedupe-buffer bytes and no throttle) until nothing is left to
// clean. It prints MiB of log cleaned per second, the passes, the bytes
// before and after, and checks the result: exactly one record per key, each
// the last one written.
//
// latency starts one `chronik serve` (the binary of --chronik, or one built
// from this module; --log-cleaner-backoff 500ms so a clean starts promptly)
// and drives an open-loop producer (franz-go with its default settings) at
// --rate records/s of --record-size bytes to topic "probe". Latency is
// measured from each record's intended send time, so a stall counts against
// every record it delays (no coordinated omission), into an HDR histogram.
// Each of --rounds rounds writes --dirty-mib MiB of overwrites to the
// compacted topic "dirty" (--dirty-partitions partitions, --dirty-keys
// keys) while the cleaner may not touch it (min.compaction.lag.ms of a
// day), probes for --duration with the cleaner idle, then makes the topic
// cleanable (min.compaction.lag.ms=0) and probes until the node reports
// every dirty partition cleaned (GET /v1/partitions). The idle and the
// cleaning phases' latencies are pooled over the rounds.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], os.Stdout, os.Stderr))
}

const usage = `usage: compaction cleaner|latency [flags] (-h for the flags of each)`

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprintln(stderr, usage)
		return 2
	}
	var err error
	switch args[0] {
	case "cleaner":
		var o cleanerOptions
		if o, err = parseCleanerOptions(args[1:], stderr); err == nil {
			err = runCleaner(ctx, o, stdout, stderr)
		}
	case "latency":
		var o latencyOptions
		if o, err = parseLatencyOptions(args[1:], stderr); err == nil {
			err = runLatency(ctx, o, stdout, stderr)
		}
	default:
		fmt.Fprintln(stderr, usage)
		return 2
	}
	var usageErr usageError
	switch {
	case err == nil, errors.Is(err, flag.ErrHelp):
		return 0
	case errors.As(err, &usageErr):
		fmt.Fprintln(stderr, "compaction:", err)
		return 2
	default:
		fmt.Fprintln(stderr, "compaction:", err)
		return 1
	}
}

// usageError is a bad command line (exit 2), as opposed to a failed run.
type usageError struct{ error }

func usagef(format string, a ...any) error { return usageError{fmt.Errorf(format, a...)} }

// parseFlags parses args with fs, classifying errors.
func parseFlags(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return usageError{err}
	}
	if fs.NArg() > 0 {
		return usagef("unexpected arguments %v", fs.Args())
	}
	return nil
}
