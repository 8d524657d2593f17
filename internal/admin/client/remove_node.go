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
	return brokerURL(ctx, httpc, urls, "the controller", func(bs api.Brokers) (int32, string) {
		return bs.ControllerID, fmt.Sprintf("no controller with an admin address right now (controller %d)", bs.ControllerID)
	})
}

// brokerURL finds, through the first of urls that answers /v1/brokers, the
// admin base URL (same scheme as that URL) of the broker pick names in the
// answer; pick also says what is missing when that broker has no admin
// address there, and what names the broker in errors.
func brokerURL(ctx context.Context, httpc *http.Client, urls []string, what string, pick func(api.Brokers) (id int32, missing string)) (string, error) {
	var last error
	for _, u := range urls {
		c := New(u, httpc)
		env, err := c.Brokers(ctx)
		if err != nil {
			last = err
			continue
		}
		id, missing := pick(env.Data)
		for _, b := range env.Data.Brokers {
			if b.ID == id && b.AdminAddr != "" {
				return schemeOf(c.URL()) + "://" + b.AdminAddr, nil
			}
		}
		last = fmt.Errorf("%s knows %s", c.URL(), missing)
	}
	if last == nil {
		last = errors.New("no admin API address given")
	}
	return "", fmt.Errorf("find %s: %w", what, last)
}
