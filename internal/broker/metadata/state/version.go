package state

import (
	"errors"
	"fmt"
	"slices"
)

// Metadata versions, in the spirit of Kafka's metadata.version: one number
// for the whole cluster that says which commands may be written to the log.
//
// Every command records the metadata version it needs (Command.MetadataVersion;
// absent means 1). The cluster's active version is in the state
// (State.MetadataVersion): a node proposes only commands of a version up to
// the active one, and Apply rejects, identically on every node, a command
// that needs more than the active version, so an entry written early is a
// no-op and not a fork. A node that meets a command of a version up to the
// active one but above what its binary understands stops applying with a
// VersionError naming the version it needs.
//
// The active version is set by the founding node (InitCluster carries its
// binary's maximum) and raised by TypeSetMetadataVersion, which Apply accepts
// only when every registered broker supports the new version: brokers
// register with the range their binary supports, and a broker that does not
// support the active version cannot register. A rolling upgrade therefore
// runs at the old version until the last broker runs the new binary, and
// then the operator (or a tool) raises it; nothing written before that needs
// the new binary.
const (
	// MinMetadataVersion is the oldest metadata version this binary applies:
	// version 1 is every log written before versions existed.
	MinMetadataVersion = 1
	// MaxMetadataVersion is the newest metadata version this binary
	// understands and may activate.
	MaxMetadataVersion = SecurityMetadataVersion
	// SecurityMetadataVersion (2) adds client security: SCRAM credentials,
	// ACLs and client quotas.
	SecurityMetadataVersion = 2
	// ReassignmentMetadataVersion (2) adds partition reassignment
	// (reassign.go). Both it and client security arrive in version 2.
	ReassignmentMetadataVersion = 2
)

// TypeSetMetadataVersion raises the cluster's active metadata version.
const TypeSetMetadataVersion = "set_metadata_version"

// SetMetadataVersion is the payload of TypeSetMetadataVersion.
type SetMetadataVersion struct {
	Version int `json:"version"`
}

// VersionError is returned by Apply and Check for a command that needs a
// newer metadata version than this binary understands: the node must be
// upgraded before it can apply the log any further.
type VersionError struct {
	Type      string // the command type
	Need      int    // the metadata version the command needs
	Supported int    // the newest this binary understands
}

func (e *VersionError) Error() string {
	return fmt.Sprintf("command %q needs metadata version %d, this binary supports up to %d: upgrade this node to a release that supports metadata version %d",
		e.Type, e.Need, e.Supported, e.Need)
}

// ActiveMetadataVersion is the cluster's metadata version: what InitCluster
// or the last SetMetadataVersion set, 1 for a state from before versions.
func (s *State) ActiveMetadataVersion() int {
	return max(s.MetadataVersion, MinMetadataVersion)
}

// SupportedMetadataVersion is the newest metadata version this node's state
// machine applies: MaxMetadataVersion unless SetSupportedMetadataVersion
// changed it.
func (s *State) SupportedMetadataVersion() int {
	if s.supported == 0 {
		return MaxMetadataVersion
	}
	return s.supported
}

// SetSupportedMetadataVersion makes s, and the states cloned from it, apply
// commands up to metadata version v instead of MaxMetadataVersion. Tests use
// it to run an "old" and a "new" binary side by side; the product never
// calls it.
func (s *State) SetSupportedMetadataVersion(v int) { s.supported = v }

// MetadataVersioned is implemented by a payload whose command needs a
// metadata version above its type's (commands added by Extend are version 1
// unless their payload says otherwise).
type MetadataVersioned interface {
	MetadataVersion() int
}

// since is the metadata version each built-in command type appeared in.
// Every type present before versions existed is 1; a new type, or a new
// payload version of an old type, gets the version that introduces it.
func since(typ string) int {
	switch typ {
	case TypeAlterScramCredentials, TypeCreateAcls, TypeDeleteAcls, TypeAlterClientQuotas:
		return SecurityMetadataVersion
	case TypeStartReassignment, TypeCancelReassignment, TypeCompleteReassignment:
		return ReassignmentMetadataVersion
	case TypeUnregisterBroker:
		return RemovalMetadataVersion
	default:
		return MinMetadataVersion
	}
}

// commandVersion is the metadata version a command of typ with payload needs.
func commandVersion(typ string, payload any) int {
	v := since(typ)
	if mv, ok := payload.(MetadataVersioned); ok {
		v = max(v, mv.MetadataVersion())
	}
	return v
}

// brokerMaxVersion is the newest metadata version a registered broker said
// it supports; brokers from before versions support only 1.
func brokerMaxVersion(b *Broker) int { return max(b.MaxMetadataVersion, MinMetadataVersion) }

func (s *State) applySetMetadataVersion(c SetMetadataVersion) error {
	active := s.ActiveMetadataVersion()
	switch {
	case c.Version <= active:
		return rejectf("metadata version is already %d; it never goes down", active)
	}
	ids := make([]int32, 0, len(s.Brokers))
	for id := range s.Brokers {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	for _, id := range ids {
		if got := brokerMaxVersion(s.Brokers[id]); got < c.Version {
			return rejectf("broker %d supports metadata versions up to %d, not %d: upgrade it first", id, got, c.Version)
		}
	}
	s.MetadataVersion = c.Version
	return nil
}

// checkRegistration refuses a broker whose binary cannot apply the active
// metadata version: it would stop at the first command of that version, or
// (a binary that dropped old versions) at the first older one.
func (s *State) checkRegistration(b Broker) error {
	if err := checkEndpoints(b); err != nil {
		return err
	}
	if err := CheckRack(b.Rack); err != nil {
		return rejectf("broker %d: %v", b.ID, err)
	}
	active := s.ActiveMetadataVersion()
	if got := brokerMaxVersion(&b); got < active {
		return rejectf("broker %d supports metadata versions up to %d, the cluster runs %d: upgrade it", b.ID, got, active)
	}
	if b.MinMetadataVersion > active {
		return rejectf("broker %d supports metadata versions from %d, the cluster runs %d: raise it first with an older release",
			b.ID, b.MinMetadataVersion, active)
	}
	return nil
}

// IsVersionError reports whether err is, or wraps, a VersionError.
func IsVersionError(err error) bool {
	var v *VersionError
	return errors.As(err, &v)
}
