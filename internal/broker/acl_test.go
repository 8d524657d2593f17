package broker_test

import (
	"context"
	"errors"
	"log/slog"
	"slices"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/twmb/franz-go/pkg/sasl/scram"

	"github.com/chronik-dev/chronik/internal/broker"
	"github.com/chronik-dev/chronik/internal/testharness"
	"github.com/chronik-dev/chronik/internal/testharness/inproc"
)

// aclNode is a node with --authorizer acl, a PLAINTEXT listener whose
// User:ANONYMOUS is a super user (it bootstraps the SCRAM users, as Kafka
// operators do with a listener of their own) and a SASL_PLAINTEXT listener
// where alice and bob are plain users and admin is a super user.
type aclNode struct {
	n                   *broker.Node
	plainAddr, saslAddr string
}

func startACLNode(t *testing.T, mod func(*broker.Config)) aclNode {
	t.Helper()
	cfg := inproc.Config(t)
	cfg.Listeners = saslListeners("127.0.0.1:0", "127.0.0.1:0")
	cfg.Authorizer = broker.AuthorizerACL
	cfg.SuperUsers = "User:admin;User:ANONYMOUS"
	if mod != nil {
		mod(&cfg)
	}
	n := inproc.StartNode(t, cfg)
	an := aclNode{n: n, plainAddr: listenerAddr(t, n, "PLAINTEXT"), saslAddr: listenerAddr(t, n, "SASL_PLAINTEXT")}
	for _, u := range []string{"admin", "alice", "bob"} {
		createSCRAMUser(t, an.plainAddr, u, u+"-pw", kadm.ScramSha512)
	}
	return an
}

// client is a client of the SASL listener authenticated as user.
func (an aclNode) client(t *testing.T, user string, opts ...kgo.Opt) *kgo.Client {
	t.Helper()
	return saslClient(t, an.saslAddr, scram.Auth{User: user, Pass: user + "-pw"}.AsSha512Mechanism(), opts...)
}

func (an aclNode) admin(t *testing.T, user string) *kadm.Client {
	t.Helper()
	return kadm.NewClient(an.client(t, user))
}

func aclCtx(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// createACLs creates b's bindings as the super user admin.
func (an aclNode) createACLs(t *testing.T, b *kadm.ACLBuilder) {
	t.Helper()
	res, err := an.admin(t, "admin").CreateACLs(aclCtx(t), b)
	if err != nil {
		t.Fatalf("create ACLs: %v", err)
	}
	for _, r := range res {
		if r.Err != nil {
			t.Fatalf("create ACL %+v: %v %s", r, r.Err, r.ErrMessage)
		}
	}
}

// produce sends one record as the client and returns the produce error.
func produceOne(t *testing.T, cl *kgo.Client, topic string) error {
	t.Helper()
	return cl.ProduceSync(aclCtx(t), &kgo.Record{Topic: topic, Value: []byte("v")}).FirstErr()
}

// direct sends req to node 1 without the client's routing (which would
// turn a refused FindCoordinator into its own error).
func direct[T kmsg.Response](t *testing.T, cl *kgo.Client, req kmsg.Request) T {
	t.Helper()
	resp, err := cl.Broker(1).Request(aclCtx(t), req)
	if err != nil {
		t.Fatalf("%s: %v", kmsg.NameForKey(req.Key()), err)
	}
	return resp.(T)
}

func aclCreateTopic(t *testing.T, adm *kadm.Client, name string) error {
	t.Helper()
	res, err := adm.CreateTopics(aclCtx(t), 1, 1, nil, name)
	if err != nil {
		return err
	}
	return res[name].Err
}

// TestACLsProduceConsumeAndTopics runs franz-go clients authenticated with
// SCRAM through what ACLs decide: produce allowed and denied, consuming with
// and without a group ACL, topic creation and deletion, Metadata hiding
// topics, prefixed ACLs, deny before allow, and the super user.
func TestACLsProduceConsumeAndTopics(t *testing.T) {
	an := startACLNode(t, nil)
	root := an.admin(t, "admin")
	for _, topic := range []string{"orders", "secrets"} {
		if err := aclCreateTopic(t, root, topic); err != nil {
			t.Fatalf("admin creates %s: %v", topic, err)
		}
	}
	an.createACLs(t, kadm.NewACLs().Allow("User:alice").Topics("orders").Operations(kadm.OpWrite))
	an.createACLs(t, kadm.NewACLs().Allow("User:alice").Topics("ord").ResourcePatternType(kadm.ACLPatternPrefixed).Operations(kadm.OpRead))
	an.createACLs(t, kadm.NewACLs().Allow("User:alice").Groups("app").Operations(kadm.OpRead))

	alice := an.client(t, "alice")
	t.Run("produce allowed and denied", func(t *testing.T) {
		if err := produceOne(t, alice, "orders"); err != nil {
			t.Fatalf("alice produces to orders (WRITE allowed): %v", err)
		}
		if err := produceOne(t, alice, "secrets"); !errors.Is(err, kerr.TopicAuthorizationFailed) {
			t.Fatalf("alice produces to secrets: want TOPIC_AUTHORIZATION_FAILED, got %v", err)
		}
		// bob may write nowhere: his idempotent producer gets no producer id (KIP-679) ...
		bob := an.client(t, "bob")
		if err := produceOne(t, bob, "orders"); !errors.Is(err, kerr.ClusterAuthorizationFailed) && !errors.Is(err, kerr.TopicAuthorizationFailed) {
			t.Fatalf("bob produces to orders: want an authorization error, got %v", err)
		}
		pid := direct[*kmsg.InitProducerIDResponse](t, bob, kmsg.NewPtrInitProducerIDRequest())
		if pid.ErrorCode != kerr.ClusterAuthorizationFailed.Code {
			t.Fatalf("bob's InitProducerId: %v, want CLUSTER_AUTHORIZATION_FAILED", kerr.ErrorForCode(pid.ErrorCode))
		}
		// ... while alice, who may WRITE one topic, gets one.
		if pid := direct[*kmsg.InitProducerIDResponse](t, alice, kmsg.NewPtrInitProducerIDRequest()); pid.ErrorCode != 0 {
			t.Fatalf("alice's InitProducerId: %v", kerr.ErrorForCode(pid.ErrorCode))
		}
	})

	t.Run("consume with a group ACL, refused without", func(t *testing.T) {
		consumer := an.client(t, "alice", kgo.ConsumeTopics("orders"), kgo.ConsumerGroup("app"),
			kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
		ctx := aclCtx(t)
		got := 0
		for got == 0 {
			fs := consumer.PollFetches(ctx)
			if err := ctx.Err(); err != nil {
				t.Fatalf("alice consumed nothing from orders in group app: %v", fs.Errors())
			}
			for _, fe := range fs.Errors() {
				t.Fatalf("alice consuming orders in group app: %v", fe.Err)
			}
			got += fs.NumRecords()
		}
		if err := consumer.CommitUncommittedOffsets(ctx); err != nil {
			t.Fatalf("alice commits in group app: %v", err)
		}

		// The group "other" has no ACL: FindCoordinator and JoinGroup are refused.
		fc := kmsg.NewPtrFindCoordinatorRequest()
		fc.CoordinatorKey, fc.CoordinatorKeys = "other", []string{"other"} // v4 batches keys
		if r := direct[*kmsg.FindCoordinatorResponse](t, alice, fc); len(r.Coordinators) != 1 || r.Coordinators[0].ErrorCode != kerr.GroupAuthorizationFailed.Code {
			t.Fatalf("FindCoordinator(other): %+v, want GROUP_AUTHORIZATION_FAILED", r)
		}
		jg := kmsg.NewPtrJoinGroupRequest()
		jg.Group, jg.ProtocolType, jg.SessionTimeoutMillis, jg.RebalanceTimeoutMillis = "other", "consumer", 6000, 6000
		jg.Protocols = []kmsg.JoinGroupRequestProtocol{{Name: "range"}}
		if r := direct[*kmsg.JoinGroupResponse](t, alice, jg); r.ErrorCode != kerr.GroupAuthorizationFailed.Code {
			t.Fatalf("JoinGroup(other): %v, want GROUP_AUTHORIZATION_FAILED", kerr.ErrorForCode(r.ErrorCode))
		}
		// An offset commit to "app" for a topic alice may not READ commits nothing for it.
		oc := kmsg.NewPtrOffsetCommitRequest()
		oc.Group, oc.Generation = "app", -1
		oc.Topics = []kmsg.OffsetCommitRequestTopic{
			{Topic: "secrets", Partitions: []kmsg.OffsetCommitRequestTopicPartition{{Partition: 0, Offset: 7}}},
		}
		r := direct[*kmsg.OffsetCommitResponse](t, alice, oc)
		if len(r.Topics) != 1 || r.Topics[0].Partitions[0].ErrorCode != kerr.TopicAuthorizationFailed.Code {
			t.Fatalf("OffsetCommit(app, secrets): %+v, want TOPIC_AUTHORIZATION_FAILED", r.Topics)
		}
		offs, err := root.FetchOffsets(aclCtx(t), "app")
		if err != nil {
			t.Fatal(err)
		}
		if _, ok := offs.Lookup("secrets", 0); ok {
			t.Fatal("a refused commit stored an offset")
		}
		if o, ok := offs.Lookup("orders", 0); !ok || o.At < 1 {
			t.Fatalf("alice's commit of orders is missing: %+v", o)
		}
	})

	t.Run("metadata hides unauthorized topics", func(t *testing.T) {
		adm := kadm.NewClient(alice)
		listed, err := adm.ListTopics(aclCtx(t))
		if err != nil {
			t.Fatal(err)
		}
		if names := listed.Names(); !slices.Equal(names, []string{"orders"}) {
			t.Fatalf("alice lists %v, want only orders (DESCRIBE implied by WRITE/READ)", names)
		}
		// Named, an unauthorized topic is refused whether it exists or not,
		// and not auto-created.
		req := kmsg.NewPtrMetadataRequest()
		for _, n := range []string{"secrets", "no-such-topic", "orders"} {
			rt := kmsg.NewMetadataRequestTopic()
			rt.Topic = kmsg.StringPtr(n)
			req.Topics = append(req.Topics, rt)
		}
		req.AllowAutoTopicCreation = true
		resp := direct[*kmsg.MetadataResponse](t, alice, req)
		want := []int16{kerr.TopicAuthorizationFailed.Code, kerr.TopicAuthorizationFailed.Code, 0}
		for i, st := range resp.Topics {
			if st.ErrorCode != want[i] {
				t.Errorf("Metadata(%s): %v, want %v", *st.Topic, kerr.ErrorForCode(st.ErrorCode), kerr.ErrorForCode(want[i]))
			}
		}
		every, err := root.ListTopics(aclCtx(t))
		if err != nil {
			t.Fatal(err)
		}
		if every.Has("no-such-topic") {
			t.Fatal("a topic alice may not create was auto-created")
		}
	})

	t.Run("topic create and delete", func(t *testing.T) {
		adm := kadm.NewClient(alice)
		if err := aclCreateTopic(t, adm, "alice-1"); !errors.Is(err, kerr.TopicAuthorizationFailed) {
			t.Fatalf("alice creates alice-1 without CREATE: want TOPIC_AUTHORIZATION_FAILED, got %v", err)
		}
		an.createACLs(t, kadm.NewACLs().Allow("User:alice").Topics("alice-").ResourcePatternType(kadm.ACLPatternPrefixed).
			Operations(kadm.OpCreate, kadm.OpDescribe))
		if err := aclCreateTopic(t, adm, "alice-1"); err != nil {
			t.Fatalf("alice creates alice-1 with a prefixed CREATE: %v", err)
		}
		if err := aclCreateTopic(t, adm, "bob-1"); !errors.Is(err, kerr.TopicAuthorizationFailed) {
			t.Fatalf("alice creates bob-1: want TOPIC_AUTHORIZATION_FAILED, got %v", err)
		}
		del, err := adm.DeleteTopics(aclCtx(t), "alice-1")
		if err != nil || !errors.Is(del["alice-1"].Err, kerr.TopicAuthorizationFailed) {
			t.Fatalf("alice deletes alice-1 without DELETE: %v %v", err, del["alice-1"].Err)
		}
		an.createACLs(t, kadm.NewACLs().Allow("User:alice").Topics("alice-1").Operations(kadm.OpDelete))
		del, err = adm.DeleteTopics(aclCtx(t), "alice-1")
		if err != nil || del["alice-1"].Err != nil {
			t.Fatalf("alice deletes alice-1 with DELETE: %v %v", err, del["alice-1"].Err)
		}
	})

	t.Run("deny before allow", func(t *testing.T) {
		an.createACLs(t, kadm.NewACLs().Deny("User:alice").Topics("orders").Operations(kadm.OpRead))
		fetch := kmsg.NewPtrFetchRequest()
		fetch.ReplicaID, fetch.MaxBytes = -1, 1<<20
		ft := kmsg.NewFetchRequestTopic()
		ft.Topic = "orders"
		fp := kmsg.NewFetchRequestTopicPartition()
		fp.PartitionMaxBytes = 1 << 20
		ft.Partitions = append(ft.Partitions, fp)
		fetch.Topics = append(fetch.Topics, ft)
		r := direct[*kmsg.FetchResponse](t, alice, fetch)
		if c := r.Topics[0].Partitions[0].ErrorCode; c != kerr.TopicAuthorizationFailed.Code {
			t.Fatalf("fetch of orders with a prefixed ALLOW and a literal DENY: %v, want TOPIC_AUTHORIZATION_FAILED", kerr.ErrorForCode(c))
		}
		// A DENY of READ does not deny DESCRIBE (implied by the WRITE allowed).
		lo := kmsg.NewPtrListOffsetsRequest()
		lt := kmsg.NewListOffsetsRequestTopic()
		lt.Topic = "orders"
		lp := kmsg.NewListOffsetsRequestTopicPartition()
		lp.Timestamp = -1
		lt.Partitions = append(lt.Partitions, lp)
		lo.Topics = append(lo.Topics, lt)
		if c := direct[*kmsg.ListOffsetsResponse](t, alice, lo).Topics[0].Partitions[0].ErrorCode; c != 0 {
			t.Fatalf("ListOffsets(orders): %v", kerr.ErrorForCode(c))
		}
	})

	t.Run("super user", func(t *testing.T) {
		an.createACLs(t, kadm.NewACLs().Deny("User:*").Topics("secrets").Operations(kadm.OpAll))
		if err := produceOne(t, an.client(t, "admin"), "secrets"); err != nil {
			t.Fatalf("super user admin produces to secrets despite DENY User:*: %v", err)
		}
	})

	t.Run("ACL APIs", func(t *testing.T) {
		adm := kadm.NewClient(alice)
		all := func() *kadm.ACLBuilder {
			return kadm.NewACLs().AnyResource().Allow().AllowHosts().Deny().DenyHosts().
				Operations(kadm.OpAny).ResourcePatternType(kadm.ACLPatternAny)
		}
		if res, err := adm.DescribeACLs(aclCtx(t), all()); err != nil || len(res) == 0 || !errors.Is(res[0].Err, kerr.ClusterAuthorizationFailed) {
			t.Fatalf("alice describes ACLs: want CLUSTER_AUTHORIZATION_FAILED, got %v %+v", err, res)
		}
		res, err := adm.CreateACLs(aclCtx(t), kadm.NewACLs().Allow("User:alice").Topics("secrets").Operations(kadm.OpRead))
		if err != nil || len(res) != 1 || !errors.Is(res[0].Err, kerr.ClusterAuthorizationFailed) {
			t.Fatalf("alice grants herself READ: %v %+v", err, res)
		}
		described, err := root.DescribeACLs(aclCtx(t), all())
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for _, d := range described {
			if d.Err != nil {
				t.Fatalf("admin describes ACLs: %v", d.Err)
			}
			n += len(d.Described)
		}
		if n != 8 { // 3 at start, alice- CREATE and DESCRIBE, alice-1 DELETE, 2 DENYs; none of alice's
			t.Fatalf("admin describes %d ACLs, want 8: %+v", n, described)
		}
		// A principal without a type is refused, the valid binding next to it is created.
		raw := kmsg.NewPtrCreateACLsRequest()
		for _, p := range []string{"carol", "User:carol"} {
			c := kmsg.NewCreateACLsRequestCreation()
			c.ResourceType, c.ResourceName, c.ResourcePatternType = kmsg.ACLResourceTypeTopic, "orders", kmsg.ACLResourcePatternTypeLiteral
			c.Principal, c.Host, c.Operation, c.PermissionType = p, "*", kmsg.ACLOperationRead, kmsg.ACLPermissionTypeAllow
			raw.Creations = append(raw.Creations, c)
		}
		cr := direct[*kmsg.CreateACLsResponse](t, an.client(t, "admin"), raw)
		if len(cr.Results) != 2 || cr.Results[0].ErrorCode != kerr.InvalidRequest.Code || cr.Results[1].ErrorCode != 0 {
			t.Fatalf("create [carol, User:carol]: %+v", cr.Results)
		}
		// Deleting alice's topic ACLs takes her access away.
		del, err := root.DeleteACLs(aclCtx(t), kadm.NewACLs().Topics().Allow("User:alice").AllowHosts().
			Operations(kadm.OpAny).ResourcePatternType(kadm.ACLPatternAny))
		if err != nil {
			t.Fatal(err)
		}
		deleted := 0
		for _, d := range del {
			if d.Err != nil {
				t.Fatalf("delete: %v", d.Err)
			}
			deleted += len(d.Deleted)
		}
		if deleted != 5 { // orders WRITE, ord READ, alice- CREATE+DESCRIBE, alice-1 DELETE
			t.Fatalf("deleted %d of alice's topic ACLs, want 5: %+v", deleted, del)
		}
		testharness.Eventually(t, 5*time.Second, "alice's write to orders refused", func() bool {
			return errors.Is(produceOne(t, alice, "orders"), kerr.TopicAuthorizationFailed)
		})
		// Left: alice's group READ and DENY, the DENY of User:*, carol's READ.
		if got := an.n.AuthorizerInfo(); !got.Enabled || got.ACLs != 4 || got.AllowEveryoneIfNoACL {
			t.Fatalf("AuthorizerInfo %+v, want enabled with 4 ACLs", got)
		}
	})
}

// TestACLsAllowEveryoneIfNoACLFound: with allow.everyone.if.no.acl.found a
// resource without ACLs is open to everyone, and one ACL on it, for anyone,
// closes it to the others.
func TestACLsAllowEveryoneIfNoACLFound(t *testing.T) {
	an := startACLNode(t, func(c *broker.Config) { c.AllowEveryoneIfNoACLFound = true })
	if err := aclCreateTopic(t, an.admin(t, "admin"), "open"); err != nil {
		t.Fatal(err)
	}
	alice := an.client(t, "alice")
	if err := produceOne(t, alice, "open"); err != nil {
		t.Fatalf("alice produces to open with no ACLs: %v", err)
	}
	an.createACLs(t, kadm.NewACLs().Allow("User:bob").Topics("open").Operations(kadm.OpWrite))
	if err := produceOne(t, alice, "open"); !errors.Is(err, kerr.TopicAuthorizationFailed) {
		t.Fatalf("alice produces to open after an ACL for bob: want TOPIC_AUTHORIZATION_FAILED, got %v", err)
	}
	if err := produceOne(t, an.client(t, "bob"), "open"); err != nil {
		t.Fatalf("bob produces to open: %v", err)
	}
	if got := an.n.AuthorizerInfo(); !got.Enabled || !got.AllowEveryoneIfNoACL || got.ACLs != 1 {
		t.Fatalf("AuthorizerInfo %+v", got)
	}
}

// TestACLAPIsWithoutAuthorizer: --authorizer none (the default) lets
// everyone do everything and answers the ACL APIs SECURITY_DISABLED, as
// Kafka without an authorizer.
func TestACLAPIsWithoutAuthorizer(t *testing.T) {
	n := inproc.StartNode(t, inproc.Config(t))
	adm := inproc.Admin(t, []string{n.Addrs().Kafka})
	described, err := adm.DescribeACLs(aclCtx(t), kadm.NewACLs().AnyResource().Allow().AllowHosts().Operations(kadm.OpAny).ResourcePatternType(kadm.ACLPatternAny))
	if err != nil || len(described) != 1 || !errors.Is(described[0].Err, kerr.SecurityDisabled) {
		t.Fatalf("DescribeACLs: want SECURITY_DISABLED, got %v %+v", err, described)
	}
	res, err := adm.CreateACLs(aclCtx(t), kadm.NewACLs().Allow("User:x").Topics("t").Operations(kadm.OpRead))
	if err != nil || len(res) != 1 || !errors.Is(res[0].Err, kerr.SecurityDisabled) {
		t.Fatalf("CreateACLs: %v %+v", err, res)
	}
	if got := n.AuthorizerInfo(); got.Enabled {
		t.Fatalf("AuthorizerInfo %+v, want disabled", got)
	}
}

// TestACLsInACluster: ACLs created on one node apply on every node, survive
// a restart of the whole cluster (read back from a raft snapshot), and
// replication is never checked (followers fetch over the cluster listener
// as the broker): acks=all produces of an authorized user complete on a
// topic replicated three times.
func TestACLsInACluster(t *testing.T) {
	c := inproc.NewCluster(t, 3, func(cfg *broker.Config) {
		cfg.Listeners = saslListeners(testharness.FreeAddr(t), testharness.FreeAddr(t))
		cfg.Authorizer = broker.AuthorizerACL
		// No super user a follower could pass for: ANONYMOUS bootstraps
		// through allow.everyone.if.no.acl.found (the cluster has no ACLs),
		// and once repl has ACLs only carol may touch it.
		cfg.AllowEveryoneIfNoACLFound = true
		cfg.RaftSnapshotEntries = 5
	})
	c.StartAll()
	plain0 := listenerAddr(t, c.Nodes[0], "PLAINTEXT")
	for _, u := range []string{"carol", "dave"} {
		createSCRAMUser(t, plain0, u, u+"-pw", kadm.ScramSha512)
	}
	root := inproc.Admin(t, []string{plain0})
	res, err := root.CreateTopics(aclCtx(t), 1, 3, nil, "repl")
	if err == nil {
		err = res["repl"].Err
	}
	if err != nil {
		t.Fatal(err)
	}
	created, err := root.CreateACLs(aclCtx(t), kadm.NewACLs().Allow("User:carol").Topics("repl").Operations(kadm.OpWrite))
	if err != nil || created[0].Err != nil {
		t.Fatalf("create ACL: %v %+v", err, created)
	}
	producer := func(i int, user string) *kgo.Client {
		return saslClient(t, listenerAddr(t, c.Nodes[i], "SASL_PLAINTEXT"),
			scram.Auth{User: user, Pass: user + "-pw"}.AsSha512Mechanism(), kgo.RequiredAcks(kgo.AllISRAcks()))
	}
	check := func(when string, i int) {
		t.Helper()
		testharness.Eventually(t, 10*time.Second, "carol's ACL applied on node "+when, func() bool {
			return produceOne(t, producer(i, "carol"), "repl") == nil
		})
		if err := produceOne(t, producer(i, "dave"), "repl"); !errors.Is(err, kerr.TopicAuthorizationFailed) && !errors.Is(err, kerr.ClusterAuthorizationFailed) {
			t.Fatalf("dave produces to repl %s: want an authorization error, got %v", when, err)
		}
		// Every replica has carol's records: the followers' fetches were
		// not refused (the ISR did not just shrink to the leader).
		testharness.Eventually(t, 5*time.Second, "every replica has carol's records "+when, func() bool {
			ends := make([]int64, len(c.Nodes))
			for j, n := range c.Nodes {
				end, ok := n.LogEndOffset("repl", 0)
				if !ok || end == 0 {
					return false
				}
				ends[j] = end
			}
			return slices.Min(ends) == slices.Max(ends)
		})
	}
	check("3", 2)
	for i := range c.Nodes {
		c.Stop(i)
	}
	c.StartAll()
	check("2 after a restart", 1)
}

// TestACLAPIsRefuseLyingRequests: bindings and filters with codes Kafka
// does not define, or elements a binding cannot hold, are refused one by
// one with INVALID_REQUEST; the valid ones next to them still apply and
// nothing else changes.
func TestACLAPIsRefuseLyingRequests(t *testing.T) {
	an := startACLNode(t, nil)
	cl := inproc.Client(t, []string{an.plainAddr}) // ANONYMOUS, a super user here
	creation := func(mod func(*kmsg.CreateACLsRequestCreation)) kmsg.CreateACLsRequestCreation {
		c := kmsg.NewCreateACLsRequestCreation()
		c.ResourceType, c.ResourceName, c.ResourcePatternType = kmsg.ACLResourceTypeTopic, "t", kmsg.ACLResourcePatternTypeLiteral
		c.Principal, c.Host, c.Operation, c.PermissionType = "User:x", "*", kmsg.ACLOperationRead, kmsg.ACLPermissionTypeAllow
		mod(&c)
		return c
	}
	create := kmsg.NewPtrCreateACLsRequest()
	create.Creations = []kmsg.CreateACLsRequestCreation{
		creation(func(c *kmsg.CreateACLsRequestCreation) { c.ResourceType = 99 }),
		creation(func(c *kmsg.CreateACLsRequestCreation) { c.ResourceType = kmsg.ACLResourceTypeAny }),
		creation(func(c *kmsg.CreateACLsRequestCreation) { c.Operation = 77 }),
		creation(func(c *kmsg.CreateACLsRequestCreation) { c.Operation = kmsg.ACLOperationAny }),
		creation(func(c *kmsg.CreateACLsRequestCreation) { c.PermissionType = kmsg.ACLPermissionTypeAny }),
		creation(func(c *kmsg.CreateACLsRequestCreation) { c.ResourcePatternType = kmsg.ACLResourcePatternTypeMatch }),
		creation(func(c *kmsg.CreateACLsRequestCreation) { c.ResourceName = "" }),
		creation(func(c *kmsg.CreateACLsRequestCreation) {
			c.ResourceType, c.ResourceName = kmsg.ACLResourceTypeCluster, "other"
		}),
		creation(func(c *kmsg.CreateACLsRequestCreation) { c.Host = "" }),
		creation(func(c *kmsg.CreateACLsRequestCreation) { c.Principal = ":x" }),
		creation(func(*kmsg.CreateACLsRequestCreation) {}), // the valid one
	}
	cr := direct[*kmsg.CreateACLsResponse](t, cl, create)
	if len(cr.Results) != len(create.Creations) {
		t.Fatalf("%d results for %d creations", len(cr.Results), len(create.Creations))
	}
	last := len(cr.Results) - 1
	for i, r := range cr.Results {
		want := kerr.InvalidRequest.Code
		if i == last {
			want = 0
		}
		if r.ErrorCode != want || (want != 0 && (r.ErrorMessage == nil || *r.ErrorMessage == "")) {
			t.Errorf("creation %d: %v %v, want %v with a message", i, kerr.ErrorForCode(r.ErrorCode), r.ErrorMessage, kerr.ErrorForCode(want))
		}
	}

	filter := func(mod func(*kmsg.DeleteACLsRequestFilter)) kmsg.DeleteACLsRequestFilter {
		f := kmsg.NewDeleteACLsRequestFilter()
		f.ResourceType, f.ResourcePatternType = kmsg.ACLResourceTypeAny, kmsg.ACLResourcePatternTypeAny
		f.Operation, f.PermissionType = kmsg.ACLOperationAny, kmsg.ACLPermissionTypeAny
		mod(&f)
		return f
	}
	del := kmsg.NewPtrDeleteACLsRequest()
	del.Filters = []kmsg.DeleteACLsRequestFilter{
		filter(func(f *kmsg.DeleteACLsRequestFilter) { f.Operation = 0 }),
		filter(func(f *kmsg.DeleteACLsRequestFilter) { f.ResourceType = 42 }),
		filter(func(f *kmsg.DeleteACLsRequestFilter) { f.Principal = kmsg.StringPtr("User:nobody") }),
	}
	dr := direct[*kmsg.DeleteACLsResponse](t, cl, del)
	if len(dr.Results) != 3 || dr.Results[0].ErrorCode != kerr.InvalidRequest.Code || dr.Results[1].ErrorCode != kerr.InvalidRequest.Code ||
		dr.Results[2].ErrorCode != 0 || len(dr.Results[0].MatchingACLs)+len(dr.Results[2].MatchingACLs) != 0 {
		t.Fatalf("delete with two bad filters and one matching nothing: %+v", dr.Results)
	}
	desc := kmsg.NewPtrDescribeACLsRequest()
	desc.ResourceType, desc.ResourcePatternType = 0, kmsg.ACLResourcePatternTypeAny
	desc.Operation, desc.PermissionType = kmsg.ACLOperationAny, kmsg.ACLPermissionTypeAny
	if r := direct[*kmsg.DescribeACLsResponse](t, cl, desc); r.ErrorCode != kerr.InvalidRequest.Code {
		t.Fatalf("describe with an UNKNOWN resource type: %v", kerr.ErrorForCode(r.ErrorCode))
	}
	if got := an.n.AuthorizerInfo().ACLs; got != 1 {
		t.Fatalf("%d ACLs after the refused requests, want the 1 valid one", got)
	}
}

// TestACLsWithClientCertificates: on an SSL listener the principal is the
// client certificate's subject (User:CN=...,O=...), super users are named
// in that form, and a binding's host is the client's address as the broker
// sees it.
func TestACLsWithClientCertificates(t *testing.T) {
	tn := startTLSNode(t, func(c *broker.Config) {
		c.Authorizer = broker.AuthorizerACL
		c.SuperUsers = "User:CN=ops,O=Test"
	})
	ops := kadm.NewClient(sslClient(t, tn.ssl, tn.clientTLS(t, "ops")))
	if err := aclCreateTopic(t, ops, "certs"); err != nil {
		t.Fatalf("super user CN=ops creates a topic: %v", err)
	}
	for _, b := range []*kadm.ACLBuilder{
		kadm.NewACLs().Allow("User:CN=alice,O=Test").AllowHosts("127.0.0.1").Topics("certs").Operations(kadm.OpWrite),
		kadm.NewACLs().Allow("User:CN=mallory,O=Test").AllowHosts("10.0.0.1").Topics("certs").Operations(kadm.OpWrite),
	} {
		res, err := ops.CreateACLs(aclCtx(t), b)
		if err != nil || res[0].Err != nil {
			t.Fatalf("create ACL: %v %+v", err, res)
		}
	}
	if err := produceOne(t, sslClient(t, tn.ssl, tn.clientTLS(t, "alice")), "certs"); err != nil {
		t.Fatalf("CN=alice from 127.0.0.1 produces: %v", err)
	}
	if err := produceOne(t, sslClient(t, tn.ssl, tn.clientTLS(t, "mallory")), "certs"); !errors.Is(err, kerr.TopicAuthorizationFailed) && !errors.Is(err, kerr.ClusterAuthorizationFailed) {
		t.Fatalf("CN=mallory, allowed only from 10.0.0.1, produces: want an authorization error, got %v", err)
	}
	if err := produceOne(t, inproc.Client(t, []string{tn.plain}), "certs"); !errors.Is(err, kerr.TopicAuthorizationFailed) && !errors.Is(err, kerr.ClusterAuthorizationFailed) {
		t.Fatalf("ANONYMOUS on the PLAINTEXT listener produces: want an authorization error, got %v", err)
	}
}

// TestACLsGroupAdministration: ListGroups, DescribeGroups, OffsetFetch,
// OffsetDelete and DeleteGroups see and touch only what the principal may.
func TestACLsGroupAdministration(t *testing.T) {
	an := startACLNode(t, nil)
	root := an.admin(t, "admin")
	for _, topic := range []string{"t1", "t2"} {
		if err := aclCreateTopic(t, root, topic); err != nil {
			t.Fatal(err)
		}
	}
	commit := func(group string, topics ...string) {
		t.Helper()
		var os kadm.Offsets
		for _, topic := range topics {
			os.AddOffset(topic, 0, 5, -1)
		}
		res, err := root.CommitOffsets(aclCtx(t), group, os)
		if err == nil {
			err = res.Error()
		}
		if err != nil {
			t.Fatalf("admin commits for %s: %v", group, err)
		}
	}
	commit("g-a", "t1", "t2")
	commit("h-b", "t1")
	an.createACLs(t, kadm.NewACLs().Allow("User:alice").Groups("g-").ResourcePatternType(kadm.ACLPatternPrefixed).Operations(kadm.OpRead))
	an.createACLs(t, kadm.NewACLs().Allow("User:alice").Topics("t1").Operations(kadm.OpRead))
	aliceClient := an.client(t, "alice")
	alice := kadm.NewClient(aliceClient)

	listed, err := alice.ListGroups(aclCtx(t))
	if err != nil {
		t.Fatal(err)
	}
	if got := listed.Groups(); !slices.Equal(got, []string{"g-a"}) {
		t.Fatalf("alice lists groups %v, want [g-a]", got)
	}
	// Sent to the node itself: kadm would stop at FindCoordinator's refusal.
	dg := kmsg.NewPtrDescribeGroupsRequest()
	dg.Groups, dg.IncludeAuthorizedOperations = []string{"g-a", "h-b"}, true
	described := direct[*kmsg.DescribeGroupsResponse](t, aliceClient, dg)
	if len(described.Groups) != 2 || described.Groups[0].ErrorCode != 0 || described.Groups[1].ErrorCode != kerr.GroupAuthorizationFailed.Code {
		t.Fatalf("alice describes g-a and h-b: %+v, want ok and GROUP_AUTHORIZATION_FAILED", described.Groups)
	}
	if ops := described.Groups[0].AuthorizedOperations; ops != 1<<3|1<<8 { // READ, and DESCRIBE it implies
		t.Fatalf("alice's authorized operations on g-a: %b, want READ and DESCRIBE", ops)
	}

	// Fetching every offset of g-a leaves t2 out; naming t2 refuses it.
	fetched, err := alice.FetchOffsets(aclCtx(t), "g-a")
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := fetched.Lookup("t2", 0); ok {
		t.Fatal("alice fetched g-a's offset of t2, a topic she may not describe")
	}
	if o, ok := fetched.Lookup("t1", 0); !ok || o.At != 5 {
		t.Fatalf("alice's fetch of g-a's offset of t1: %+v %v", o, ok)
	}
	of := kmsg.NewPtrOffsetFetchRequest()
	og := kmsg.NewOffsetFetchRequestGroup()
	og.Group = "g-a"
	og.Topics = []kmsg.OffsetFetchRequestGroupTopic{{Topic: "t2", Partitions: []int32{0}}}
	of.Groups = append(of.Groups, og)
	of.Group, of.Topics = "g-a", []kmsg.OffsetFetchRequestTopic{{Topic: "t2", Partitions: []int32{0}}} // before v8
	r := direct[*kmsg.OffsetFetchResponse](t, aliceClient, of)
	code := int16(-1)
	if len(r.Groups) == 1 && len(r.Groups[0].Topics) == 1 {
		code = r.Groups[0].Topics[0].Partitions[0].ErrorCode
	} else if len(r.Topics) == 1 {
		code = r.Topics[0].Partitions[0].ErrorCode
	}
	if code != kerr.TopicAuthorizationFailed.Code {
		t.Fatalf("OffsetFetch(g-a, t2): %+v, want TOPIC_AUTHORIZATION_FAILED", r)
	}

	// Without DELETE on the groups nothing is deleted; with it, only t1's
	// offset (READ) and only g-a.
	if res, err := alice.DeleteOffsets(aclCtx(t), "g-a", kadm.TopicsSet{"t1": {0: {}}}); err == nil && res.Error() == nil {
		t.Fatal("alice deleted offsets of g-a without DELETE on it")
	}
	an.createACLs(t, kadm.NewACLs().Allow("User:alice").Groups("g-").ResourcePatternType(kadm.ACLPatternPrefixed).Operations(kadm.OpDelete))
	deleted, err := alice.DeleteOffsets(aclCtx(t), "g-a", kadm.TopicsSet{"t1": {0: {}}, "t2": {0: {}}})
	if err != nil {
		t.Fatal(err)
	}
	if e, _ := deleted.Lookup("t1", 0); e != nil {
		t.Fatalf("alice deletes g-a's offset of t1: %v", e)
	}
	if e, _ := deleted.Lookup("t2", 0); !errors.Is(e, kerr.TopicAuthorizationFailed) {
		t.Fatalf("alice deletes g-a's offset of t2: %v, want TOPIC_AUTHORIZATION_FAILED", e)
	}
	left, err := root.FetchOffsets(aclCtx(t), "g-a")
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := left.Lookup("t1", 0); ok {
		t.Fatal("g-a's offset of t1 is still there")
	}
	if o, ok := left.Lookup("t2", 0); !ok || o.At != 5 {
		t.Fatalf("g-a's offset of t2 was touched: %+v %v", o, ok)
	}
	del := kmsg.NewPtrDeleteGroupsRequest()
	del.Groups = []string{"g-a", "h-b"}
	gone := direct[*kmsg.DeleteGroupsResponse](t, aliceClient, del)
	codes := map[string]int16{}
	for _, g := range gone.Groups {
		codes[g.Group] = g.ErrorCode
	}
	if len(codes) != 2 || codes["g-a"] != 0 || codes["h-b"] != kerr.GroupAuthorizationFailed.Code {
		t.Fatalf("alice deletes g-a and h-b: %+v, want ok and GROUP_AUTHORIZATION_FAILED", gone.Groups)
	}
	all, err := root.ListGroups(aclCtx(t))
	if err != nil {
		t.Fatal(err)
	}
	if got := all.Groups(); !slices.Equal(got, []string{"h-b"}) {
		t.Fatalf("groups left %v, want [h-b]", got)
	}
}

// TestACLsTopicAdministration: configs, partitions, elections and the
// cluster's authorized operations need what Kafka asks for.
func TestACLsTopicAdministration(t *testing.T) {
	an := startACLNode(t, nil)
	if err := aclCreateTopic(t, an.admin(t, "admin"), "cfg"); err != nil {
		t.Fatal(err)
	}
	an.createACLs(t, kadm.NewACLs().Allow("User:alice").Topics("cfg").Operations(kadm.OpDescribeConfigs))
	aliceClient := an.client(t, "alice")
	alice := kadm.NewClient(aliceClient)
	ctx := aclCtx(t)
	retention := "60000"
	alter := []kadm.AlterConfig{{Op: kadm.SetConfig, Name: "retention.ms", Value: &retention}}

	if rc, err := alice.DescribeTopicConfigs(ctx, "cfg"); err != nil || len(rc) != 1 || rc[0].Err != nil {
		t.Fatalf("alice describes cfg's configs with DESCRIBE_CONFIGS: %v %+v", err, rc)
	}
	if rc, err := alice.DescribeBrokerConfigs(ctx, 1); err == nil && (len(rc) != 1 || !errors.Is(rc[0].Err, kerr.ClusterAuthorizationFailed)) {
		t.Fatalf("alice describes broker 1's configs: %+v, want CLUSTER_AUTHORIZATION_FAILED", rc)
	}
	if res, err := alice.AlterTopicConfigs(ctx, alter, "cfg"); err != nil || len(res) != 1 || !errors.Is(res[0].Err, kerr.TopicAuthorizationFailed) {
		t.Fatalf("alice alters cfg's configs without ALTER_CONFIGS: %v %+v", err, res)
	}
	cp := kmsg.NewPtrCreatePartitionsRequest()
	cp.TimeoutMillis = 5000
	cp.Topics = []kmsg.CreatePartitionsRequestTopic{{Topic: "cfg", Count: 2}}
	if r := direct[*kmsg.CreatePartitionsResponse](t, aliceClient, cp); len(r.Topics) != 1 || r.Topics[0].ErrorCode != kerr.TopicAuthorizationFailed.Code {
		t.Fatalf("alice adds a partition to cfg without ALTER: %+v, want TOPIC_AUTHORIZATION_FAILED", r.Topics)
	}
	if _, err := alice.ElectLeaders(ctx, kadm.ElectPreferredReplica, kadm.TopicsSet{"cfg": {0: {}}}); !errors.Is(err, kerr.ClusterAuthorizationFailed) {
		t.Fatalf("alice elects leaders: %v, want CLUSTER_AUTHORIZATION_FAILED", err)
	}
	dc := kmsg.NewPtrDescribeClusterRequest()
	dc.IncludeClusterAuthorizedOperations = true
	if r := direct[*kmsg.DescribeClusterResponse](t, aliceClient, dc); r.ErrorCode != 0 || r.ClusterAuthorizedOperations != 0 {
		t.Fatalf("alice describes the cluster: %v, authorized operations %b; want it answered with none", kerr.ErrorForCode(r.ErrorCode), r.ClusterAuthorizedOperations)
	}

	an.createACLs(t, kadm.NewACLs().Allow("User:alice").Topics("cfg").Operations(kadm.OpAlterConfigs, kadm.OpAlter))
	if res, err := alice.AlterTopicConfigs(ctx, alter, "cfg"); err != nil || res[0].Err != nil {
		t.Fatalf("alice alters cfg's configs with ALTER_CONFIGS: %v %+v", err, res)
	}
	if res, err := alice.CreatePartitions(ctx, 1, "cfg"); err != nil || res["cfg"].Err != nil {
		t.Fatalf("alice adds a partition to cfg with ALTER: %v %+v", err, res)
	}
	admin := an.client(t, "admin")
	if r := direct[*kmsg.DescribeClusterResponse](t, admin, dc); r.ClusterAuthorizedOperations == 0 || r.ClusterAuthorizedOperations == -2147483648 {
		t.Fatalf("the super user's authorized operations on the cluster: %b", r.ClusterAuthorizedOperations)
	}
}

// Kafka-side admin changes are logged with the principal that made them and
// how each named resource fared, refusals included.
func TestAdminChangesLogThePrincipal(t *testing.T) {
	logs := &logBuffer{}
	an := startACLNode(t, func(cfg *broker.Config) {
		cfg.Logger = slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelInfo}))
	})
	if err := aclCreateTopic(t, an.admin(t, "admin"), "audited"); err != nil {
		t.Fatal(err)
	}
	if err := aclCreateTopic(t, an.admin(t, "alice"), "refused"); !errors.Is(err, kerr.TopicAuthorizationFailed) {
		t.Fatalf("alice created a topic: %v", err)
	}
	if _, err := an.admin(t, "admin").DeleteTopics(aclCtx(t), "audited"); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		`msg="kafka admin request" api=CreateTopics principal=User:admin`,
		`outcome="[topic audited: ok]"`,
		`api=CreateTopics principal=User:alice`,
		`outcome="[topic refused: TOPIC_AUTHORIZATION_FAILED]"`,
		`api=DeleteTopics principal=User:admin`,
	} {
		testharness.Eventually(t, 10*time.Second, "log line "+want, logs.has(want), logs.String)
	}
}
