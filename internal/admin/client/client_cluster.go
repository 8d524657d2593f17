package client

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"

	"github.com/chronik-dev/chronik/internal/admin/api"
)

// WithToken returns a copy of c that sends the admin token with mutations.
func (c *Client) WithToken(token string) *Client {
	cc := *c
	cc.token = token
	return &cc
}

// Brokers fetches GET /v1/brokers.
func (c *Client) Brokers(ctx context.Context) (api.Envelope[api.Brokers], error) {
	return getEnvelope[api.Brokers](ctx, c, "/v1/brokers")
}

// Partitions fetches GET /v1/partitions, for the given topics (all when none).
func (c *Client) Partitions(ctx context.Context, topics ...string) (api.Envelope[api.Partitions], error) {
	path := "/v1/partitions"
	if len(topics) > 0 {
		q := url.Values{"topic": topics}
		path += "?" + q.Encode()
	}
	return getEnvelope[api.Partitions](ctx, c, path)
}

// Reconcile fetches GET /v1/reconcile.
func (c *Client) Reconcile(ctx context.Context) (api.Envelope[api.Reconcile], error) {
	return getEnvelope[api.Reconcile](ctx, c, "/v1/reconcile")
}

// Findings fetches GET /v1/findings.
func (c *Client) Findings(ctx context.Context) (api.Envelope[api.Findings], error) {
	return getEnvelope[api.Findings](ctx, c, "/v1/findings")
}

// CreateTopic calls POST /v1/topics.
func (c *Client) CreateTopic(ctx context.Context, req api.CreateTopicRequest) (api.Envelope[api.TopicCreated], error) {
	return send[api.TopicCreated](ctx, c, http.MethodPost, "/v1/topics", req)
}

// DeleteTopic calls DELETE /v1/topics/{name}.
func (c *Client) DeleteTopic(ctx context.Context, name string) error {
	_, err := send[map[string]string](ctx, c, http.MethodDelete, "/v1/topics/"+url.PathEscape(name), nil)
	return err
}

// ElectLeaders calls POST /v1/elect-leaders.
func (c *Client) ElectLeaders(ctx context.Context, req api.ElectLeadersRequest) (api.Envelope[api.ElectLeadersResult], error) {
	return send[api.ElectLeadersResult](ctx, c, http.MethodPost, "/v1/elect-leaders", req)
}

// send makes a mutating call with a JSON body (nil: none) and the token.
func send[T any](ctx context.Context, c *Client, method, path string, body any) (api.Envelope[T], error) {
	var env api.Envelope[T]
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return env, fmt.Errorf("encode %s %s: %w", method, path, err)
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, rd)
	if err != nil {
		return env, &RequestError{URL: c.base, Path: path, Err: err,
			msg: fmt.Sprintf("bad chronik admin API address %q: %v — want http://host:port", c.base, err)}
	}
	req.Header.Set("Accept", "application/json")
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	resp, err := c.httpc.Do(req)
	if err != nil {
		return env, transportError(c.base, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxAnswerBytes))
	if err != nil {
		return env, transportError(c.base, path, err)
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		e := statusError(c.base, path, resp, b)
		if resp.StatusCode == http.StatusUnauthorized {
			e.msg = fmt.Sprintf("chronik admin API at %s refused %s %s: it needs the admin token — pass --admin-token or set CHRONIK_ADMIN_TOKEN", c.base, method, path)
		}
		return env, e
	}
	if err := decodeJSON(resp, b, &env); err != nil {
		return env, &RequestError{URL: c.base, Path: path, Status: resp.StatusCode, Err: err,
			msg: fmt.Sprintf("chronik admin API at %s answered %s %s with something other than chronik JSON: %v", c.base, method, path, err)}
	}
	return env, nil
}
