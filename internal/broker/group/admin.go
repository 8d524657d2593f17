package group

import (
	"context"
	"slices"
	"strings"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// classicGroupType is the KIP-848 group type of every group served here.
const classicGroupType = "classic"

// groupAuthorizedOperations is what DescribeGroups v3+ reports when asked:
// without an authorizer every group operation (READ, DELETE, DESCRIBE,
// DESCRIBE_CONFIGS, ALTER_CONFIGS as AclOperation bits) is allowed.
const groupAuthorizedOperations = 1<<3 | 1<<6 | 1<<8 | 1<<10 | 1<<11

// ListGroups lists the groups of the partitions this coordinator has
// loaded, sorted by id, honouring StatesFilter (v4+) and TypesFilter (v5+;
// every group here is "classic"). Like Kafka, while some partition is still
// loading the answer carries COORDINATOR_LOAD_IN_PROGRESS along with the
// groups already known.
func (c *Coordinator) ListGroups(_ context.Context, req *kmsg.ListGroupsRequest) *kmsg.ListGroupsResponse {
	resp := kmsg.NewPtrListGroupsResponse()
	resp.Version = req.Version
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		resp.ErrorCode = kerr.CoordinatorNotAvailable.Code
		return resp
	}
	for _, ps := range c.parts {
		if ps.status == partitionLoading || ps.status == partitionFailed {
			resp.ErrorCode = kerr.CoordinatorLoadInProgress.Code
			break
		}
	}
	if req.Version >= 5 && len(req.TypesFilter) > 0 && !slices.ContainsFunc(req.TypesFilter, func(t string) bool {
		return strings.EqualFold(t, classicGroupType)
	}) {
		return resp
	}
	ids := make([]string, 0, len(c.groups))
	for id := range c.groups {
		// c.groups holds only groups of loaded partitions; checking again
		// keeps a listing from ever leaking another node's groups.
		if c.parts[c.Partition(id)].status == partitionLoaded {
			ids = append(ids, id)
		}
	}
	slices.Sort(ids)
	for _, id := range ids {
		g := c.groups[id]
		if g.state == stateDead {
			continue // being deleted
		}
		state := g.state.String()
		if req.Version >= 4 && !stateMatches(req.StatesFilter, state) {
			continue
		}
		lg := kmsg.NewListGroupsResponseGroup()
		lg.Group = id
		lg.ProtocolType = g.protocolType
		lg.GroupState = state
		lg.GroupType = classicGroupType
		resp.Groups = append(resp.Groups, lg)
	}
	return resp
}

// DescribeGroups describes groups like Kafka: members in join order, their
// protocol metadata and assignment only once the group is Stable. Unknown
// groups are reported as Dead, with GROUP_ID_NOT_FOUND from v6 on.
func (c *Coordinator) DescribeGroups(_ context.Context, req *kmsg.DescribeGroupsRequest) *kmsg.DescribeGroupsResponse {
	resp := kmsg.NewPtrDescribeGroupsResponse()
	resp.Version = req.Version
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, id := range req.Groups {
		dg := kmsg.NewDescribeGroupsResponseGroup()
		dg.Group = id
		if avail := c.availabilityFor(id); avail != 0 {
			dg.ErrorCode = avail
			resp.Groups = append(resp.Groups, dg)
			continue
		}
		if req.IncludeAuthorizedOperations {
			dg.AuthorizedOperations = groupAuthorizedOperations
		}
		g := c.groups[id]
		if g == nil || g.state == stateDead {
			dg.State = stateDead.String()
			if req.Version >= 6 {
				dg.ErrorCode = kerr.GroupIDNotFound.Code
			}
			resp.Groups = append(resp.Groups, dg)
			continue
		}
		dg.State = g.state.String()
		dg.ProtocolType = g.protocolType
		stable := g.state == stateStable
		if stable {
			dg.Protocol = g.protocol
		}
		for _, m := range g.sortedMembers() {
			dm := kmsg.NewDescribeGroupsResponseGroupMember()
			dm.MemberID = m.id
			dm.InstanceID = m.instanceID
			dm.ClientID = m.clientID
			dm.ClientHost = m.host
			if stable {
				dm.ProtocolMetadata = m.metadataFor(g.protocol)
				dm.MemberAssignment = m.assignment
			}
			dg.Members = append(dg.Members, dm)
		}
		resp.Groups = append(resp.Groups, dg)
	}
	return resp
}
