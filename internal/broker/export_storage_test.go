package broker

// SetBeforeFsyncForTest makes fn run before every fsync pass of every
// partition log of the node started with cfg; an error fails the pass as a
// failing disk would.
func SetBeforeFsyncForTest(cfg *Config, fn func() error) { cfg.testBeforeFsync = fn }

// SetBeforeSaveForTest makes fn run before every write of the raft store of
// the node started with cfg; an error fails the write as a failing disk
// would.
func SetBeforeSaveForTest(cfg *Config, fn func() error) { cfg.testBeforeSave = fn }
