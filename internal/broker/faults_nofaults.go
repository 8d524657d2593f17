//go:build !chronik_faults

package broker

import "log/slog"

// faults is empty without the chronik_faults build tag: nothing can be
// injected and no fault code is linked (faults_faults.go has it).
type faults struct{}

func (*faults) beforeFsync() func() error { return nil }
func (*faults) beforeSave() func() error  { return nil }
func (*faults) announce(*slog.Logger)     {}
