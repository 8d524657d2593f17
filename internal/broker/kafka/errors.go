package kafka

import (
	"github.com/chronik-dev/chronik/internal/broker/controller"
	"github.com/twmb/franz-go/pkg/kerr"
)

var errUnknownTopic = kerr.UnknownTopicOrPartition

// code is the wire error code of err (0 for nil).
func code(err error) int16 {
	if err == nil {
		return 0
	}
	return controller.Code(err).Code
}

// message is the client-facing error message of err, if it has one.
func message(err error) *string {
	if err == nil {
		return nil
	}
	if m := controller.Message(err); m != nil {
		return m
	}
	s := controller.Code(err).Message
	return &s
}
