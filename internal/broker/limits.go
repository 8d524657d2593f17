package broker

import (
	"fmt"
	"syscall"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/chronik-dev/chronik/internal/broker/controller"
	"github.com/chronik-dev/chronik/internal/broker/partlog"
)

// Defaults of the partition limits (docs/security.md explains them).
const (
	// DefaultMaxPartitionsPerRequest: one CreateTopics or CreatePartitions
	// request adds at most this many partitions. Creating a partition is a
	// directory and three files on every replica plus its share of one raft
	// entry; a thousand is more than any real deployment asks for at once
	// and still answers in seconds, where 100,000 took the node down.
	DefaultMaxPartitionsPerRequest = 1000
	// DefaultMaxPartitionsPerBroker: a broker hosts at most this many
	// partition replicas, the commonly given upper bound for one Kafka
	// broker (Kafka itself has no hard limit). Each holds its active
	// segment's three files open: 12,000 handles, within the limits Linux
	// distributions and container runtimes give services (65,536 and up).
	DefaultMaxPartitionsPerBroker = 4000
)

// fileBudget is how the node spends its open-files limit (RLIMIT_NOFILE):
// a quarter (at least 64) is reserved for connections, the raft and
// metadata files and files opened in passing; the rest holds the inactive
// segment file cache (a quarter of the rest unless --max-open-segment-files
// says otherwise) and the active segments, three files per partition.
type fileBudget struct {
	Limit        uint64 // the soft RLIMIT_NOFILE (Go raises it to the hard limit at start-up)
	Reserved     int
	SegmentFiles int // cap of the inactive-segment file cache
	Partitions   int // partitions whose active segments fit in what is left
}

// planFileBudget splits limit; maxOpenSegmentFiles 0 derives the cache cap.
func planFileBudget(limit uint64, maxOpenSegmentFiles int) (fileBudget, error) {
	l := int(min(limit, 1<<30))
	b := fileBudget{Limit: limit, Reserved: max(l/4, 64)}
	rest := l - b.Reserved
	b.SegmentFiles = maxOpenSegmentFiles
	if b.SegmentFiles == 0 {
		b.SegmentFiles = max(rest/4, partlog.FilesPerSegment)
	}
	b.Partitions = (rest - b.SegmentFiles) / partlog.FilesPerSegment
	if b.Partitions < 1 {
		return b, fmt.Errorf("open-files limit %d leaves no file handles for partitions (%d reserved for connections and metadata, %d for --max-open-segment-files); raise it (ulimit -n) or lower --max-open-segment-files",
			limit, b.Reserved, b.SegmentFiles)
	}
	return b, nil
}

// openFilesLimit is the process's current open-files limit.
func openFilesLimit() (uint64, error) {
	var r syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &r); err != nil {
		return 0, fmt.Errorf("read the open-files limit: %w", err)
	}
	return r.Cur, nil
}

// planFiles derives the node's file budget from its open-files limit and
// logs it: what the limit allows is the first thing to look at when a
// topic creation is refused.
func (n *Node) planFiles() error {
	limit, err := openFilesLimit()
	if err != nil {
		return err
	}
	if n.files, err = planFileBudget(limit, int(n.cfg.MaxOpenSegmentFiles)); err != nil {
		return err
	}
	perBroker := min(int(n.cfg.MaxPartitionsPerBroker), n.files.Partitions)
	n.logger.Info("file handle budget",
		"open_files_limit", limit, "reserved", n.files.Reserved,
		"max_open_segment_files", n.files.SegmentFiles, "partitions_served", n.files.Partitions,
		"max_partitions_per_broker", perBroker)
	if n.files.Partitions < int(n.cfg.MaxPartitionsPerBroker) {
		n.logger.Warn("the open-files limit serves fewer partitions than --max-partitions-per-broker; creations beyond it are refused",
			"open_files_limit", limit, "partitions_served", n.files.Partitions,
			"max_partitions_per_broker", n.cfg.MaxPartitionsPerBroker)
	}
	return nil
}

// partitionLimits are the controller's limits for this node.
func (n *Node) partitionLimits() controller.Limits {
	return controller.Limits{
		MaxPartitionsPerRequest: int(n.cfg.MaxPartitionsPerRequest),
		MaxPartitionsPerBroker:  int(n.cfg.MaxPartitionsPerBroker),
		HandlePartitions:        n.files.Partitions,
		FileHandleLimit:         n.files.Limit,
	}
}

// fileMetrics exports the file budget and the inactive-segment file cache:
// an operator sees how close the node runs to its caps.
func (n *Node) fileMetrics() []prometheus.Collector {
	gauge := func(name, help string, f func() float64) prometheus.Collector {
		return prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: name, Help: help}, f)
	}
	return []prometheus.Collector{
		gauge("chronik_open_segment_files", "Files of inactive log segments open now (the active segments' are not counted).",
			func() float64 { return float64(n.segFiles.Stats().OpenFiles) }),
		gauge("chronik_open_segment_files_max", "Cap of open inactive-segment files (--max-open-segment-files or derived).",
			func() float64 { return float64(n.segFiles.MaxFiles()) }),
		gauge("chronik_open_files_limit", "The process's open-files limit (RLIMIT_NOFILE) the budget was planned from.",
			func() float64 { return float64(n.files.Limit) }),
		gauge("chronik_partitions_served_by_file_limit", "Partitions whose active segments the open-files limit can keep open.",
			func() float64 { return float64(n.files.Partitions) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "chronik_segment_file_evictions_total",
			Help: "Inactive segments whose files were closed to stay under the cap."},
			func() float64 { return float64(n.segFiles.Stats().Evictions) }),
	}
}
