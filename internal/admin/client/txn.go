package client

import (
	"context"
	"net/http"

	"github.com/chronik-dev/chronik/internal/admin/api"
)

// AbortTransaction asks the node (the partition's leader) to write an ABORT
// marker for a transaction open on the partition (POST
// /v1/transactions/abort); needs the admin token.
func (c *Client) AbortTransaction(ctx context.Context, req api.AbortTransactionRequest) (api.Envelope[api.AbortTransactionResult], error) {
	return send[api.AbortTransactionResult](ctx, c, http.MethodPost, "/v1/transactions/abort", req)
}
