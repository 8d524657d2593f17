package kafka

import (
	"context"
	"log/slog"
	"sync"

	"github.com/chronik-dev/chronik/internal/broker/controller"
	"github.com/chronik-dev/chronik/internal/broker/group"
	"github.com/chronik-dev/chronik/internal/broker/meta"
	"github.com/chronik-dev/chronik/internal/broker/replica"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// ConfigEntry is one broker config shown by DescribeConfigs.
type ConfigEntry struct {
	Name, Value string
	IsDefault   bool
}

// Backend is the node state the API handlers serve from. The node fills it
// in; the handlers never own any of it.
type Backend struct {
	NodeID           int32
	Host             string // advertised Kafka host
	Port             int32  // advertised Kafka port
	AutoCreateTopics bool
	BrokerConfigs    []ConfigEntry

	Store      *meta.Store
	Replicas   *replica.Manager
	Controller *controller.Controller
	Groups     *group.Coordinator
	Logger     *slog.Logger

	initOnce sync.Once
	stopping chan struct{} // closed by Stop
	stopOnce sync.Once
}

// Stop makes waiting requests (fetch long polls) answer now with what they
// have, so a graceful shutdown does not wait out their timeouts.
func (b *Backend) Stop() {
	b.stopOnce.Do(func() { close(b.stoppingCh()) })
}

func (b *Backend) stoppingCh() chan struct{} {
	b.initOnce.Do(func() { b.stopping = make(chan struct{}) })
	return b.stopping
}

// APIs is the table of served API keys, their version ranges and handlers.
// ACLs, SASL and the inter-broker APIs are not listed, so clients learn from
// ApiVersions that they are unsupported; the transaction APIs are listed
// only to refuse them with error codes (transactions.go).
func (b *Backend) APIs() APIs {
	return APIs{
		0:  {0, 11, b.handleProduce},
		1:  {4, 12, b.handleFetch},
		2:  {1, 7, b.handleListOffsets},
		3:  {0, 12, b.handleMetadata},
		8:  {0, 8, b.handleOffsetCommit},
		9:  {0, 8, b.handleOffsetFetch},
		10: {0, 4, b.handleFindCoordinator},
		11: {0, 9, b.handleJoinGroup},
		12: {0, 4, b.handleHeartbeat},
		13: {0, 5, b.handleLeaveGroup},
		14: {0, 5, b.handleSyncGroup},
		15: {0, 5, b.handleDescribeGroups},
		16: {0, 4, b.handleListGroups},
		19: {0, 7, b.handleCreateTopics},
		20: {0, 6, b.handleDeleteTopics},
		22: {0, 5, b.handleInitProducerID},
		23: {0, 4, b.handleOffsetForLeaderEpoch},
		24: {0, 3, b.handleAddPartitionsToTxn},
		25: {0, 3, b.handleAddOffsetsToTxn},
		26: {0, 3, b.handleEndTxn},
		28: {0, 3, b.handleTxnOffsetCommit},
		32: {0, 4, b.handleDescribeConfigs},
		37: {0, 3, b.handleCreatePartitions},
		42: {0, 2, b.handleDeleteGroups},
		44: {0, 1, b.handleIncrementalAlterConfigs},
		47: {0, 0, b.handleOffsetDelete},
		60: {0, 1, b.handleDescribeCluster},
	}
}

// done wraps an immediate response for a HandlerFunc's return.
func done(r kmsg.Response) (kmsg.Response, Pending, error) { return r, nil, nil }

// respond builds the response of req's kind at req's version.
func respond[T kmsg.Response](req kmsg.Request) T {
	r := req.ResponseKind()
	r.SetVersion(req.GetVersion())
	return r.(T)
}

// lookupTopic returns the named topic, auto-creating it when allowed.
func (b *Backend) lookupTopic(name string, autoCreate bool) (meta.Topic, error) {
	if t, ok := b.Store.Topic(name); ok {
		return t, nil
	}
	if err := controller.ValidateTopicName(name); err != nil {
		return meta.Topic{}, err
	}
	if !autoCreate || !b.AutoCreateTopics {
		return meta.Topic{}, errUnknownTopic
	}
	return b.Controller.EnsureTopic(name)
}

// ensureOffsetsTopic creates __consumer_offsets when a client first looks for
// a group coordinator.
func (b *Backend) ensureOffsetsTopic() error {
	_, err := b.Controller.EnsureTopic(controller.OffsetsTopic)
	return err
}

// pending adapts a typed blocking call (group join, sync) to a Pending.
func pending[T kmsg.Response](fn func(ctx context.Context) T) Pending {
	return func(ctx context.Context) kmsg.Response { return fn(ctx) }
}
