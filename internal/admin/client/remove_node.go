package client

import (
	"context"
	"errors"
	"fmt"
	"net/http"

	"github.com/chronik-dev/chronik/internal/admin/api"
)

// RemoveNode calls POST /v1/cluster/remove-node (the controller only; any
// other node answers api.CodeNotController).
func (c *Client) RemoveNode(ctx context.Context, req api.RemoveNodeRequest) (api.Envelope[api.RemoveNodeStatus], error) {
	return send[api.RemoveNodeStatus](ctx, c, http.MethodPost, "/v1/cluster/remove-node", req)
}

// ControllerURL finds the controller's admin base URL through the first of
// urls that answers /v1/brokers (same scheme as that URL).
func ControllerURL(ctx context.Context, httpc *http.Client, urls []string) (string, error) {
	var last error
	for _, u := range urls {
		c := New(u, httpc)
		env, err := c.Brokers(ctx)
		if err != nil {
			last = err
			continue
		}
		for _, b := range env.Data.Brokers {
			if b.ID == env.Data.ControllerID && b.AdminAddr != "" {
				return schemeOf(c.URL()) + "://" + b.AdminAddr, nil
			}
		}
		last = fmt.Errorf("%s knows no controller with an admin address right now (controller %d)", c.URL(), env.Data.ControllerID)
	}
	if last == nil {
		last = errors.New("no admin API address given")
	}
	return "", fmt.Errorf("find the controller: %w", last)
}
