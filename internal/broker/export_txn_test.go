package broker

import "time"

// WithTxnAbortInterval makes the transaction coordinator look for timed-out
// transactions every d instead of every 10 s.
func WithTxnAbortInterval(cfg *Config, d time.Duration) { cfg.testTxnAbortInterval = d }
