package broker_test

import (
	"errors"
	"testing"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// TestReassignmentACLs: AlterPartitionReassignments needs ALTER on the
// cluster and ListPartitionReassignments DESCRIBE on the cluster, as in
// Kafka; a topic ACL is not enough.
func TestReassignmentACLs(t *testing.T) {
	an := startACLNode(t, nil)
	if err := aclCreateTopic(t, an.admin(t, "admin"), "mv"); err != nil {
		t.Fatal(err)
	}
	an.createACLs(t, kadm.NewACLs().Allow("User:alice").Topics("mv").Operations(kadm.OpAll))
	alice := an.admin(t, "alice")
	ctx := aclCtx(t)
	var move kadm.AlterPartitionAssignmentsReq
	move.Assign("mv", 0, []int32{1})
	set := kadm.TopicsSet{"mv": {0: {}}}

	if _, err := alice.AlterPartitionAssignments(ctx, move); !errors.Is(err, kerr.ClusterAuthorizationFailed) {
		t.Fatalf("alice reassigns without ALTER on the cluster: %v", err)
	}
	if _, err := alice.ListPartitionReassignments(ctx, set); !errors.Is(err, kerr.ClusterAuthorizationFailed) {
		t.Fatalf("alice lists reassignments without DESCRIBE on the cluster: %v", err)
	}
	list := kmsg.NewPtrListPartitionReassignmentsRequest() // null topics: every partition
	if r := direct[*kmsg.ListPartitionReassignmentsResponse](t, an.client(t, "alice"), list); r.ErrorCode != kerr.ClusterAuthorizationFailed.Code || len(r.Topics) != 0 {
		t.Fatalf("alice lists every reassignment: %v %+v", kerr.ErrorForCode(r.ErrorCode), r.Topics)
	}

	an.createACLs(t, kadm.NewACLs().Allow("User:alice").Clusters().Operations(kadm.OpAlter, kadm.OpDescribe))
	if res, err := alice.AlterPartitionAssignments(ctx, move); err != nil || res["mv"][0].Err != nil {
		t.Fatalf("alice reassigns with ALTER on the cluster: %v %+v", err, res)
	}
	if res, err := alice.ListPartitionReassignments(ctx, set); err != nil || len(res.Sorted()) != 0 {
		t.Fatalf("alice lists with DESCRIBE on the cluster: %v %+v", err, res)
	}
	if r := direct[*kmsg.ListPartitionReassignmentsResponse](t, an.client(t, "alice"), list); r.ErrorCode != 0 {
		t.Fatalf("alice lists every reassignment with DESCRIBE: %v", kerr.ErrorForCode(r.ErrorCode))
	}
}
