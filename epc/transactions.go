package epc

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
)

// GetTransaction reads GET /partner/v2/transactions/{id}.
func (c *Client) GetTransaction(ctx context.Context, id string) (*Transaction, error) {
	p, err := txPath(id)
	if err != nil {
		return nil, err
	}
	var tx Transaction
	if err := c.callJSON(ctx, http.MethodGet, p, nil, &tx); err != nil {
		return nil, err
	}
	return &tx, nil
}

// GetRequest reads GET /partner/v2/transactions/{id}/request.
func (c *Client) GetRequest(ctx context.Context, id string) (*Request, error) {
	p, err := txPath(id, "request")
	if err != nil {
		return nil, err
	}
	var r Request
	if err := c.callJSON(ctx, http.MethodGet, p, nil, &r); err != nil {
		return nil, err
	}
	return &r, nil
}

// ListRequestResources reads the lender's attachments:
// GET /partner/v2/transactions/{id}/request/resources.
func (c *Client) ListRequestResources(ctx context.Context, id string) ([]Resource, error) {
	p, err := txPath(id, "request", "resources")
	if err != nil {
		return nil, err
	}
	var rs []Resource
	if err := c.callJSON(ctx, http.MethodGet, p, nil, &rs); err != nil {
		return nil, err
	}
	return rs, nil
}

// PatchResponse sends PATCH /partner/v2/transactions/{id}/response. Any 2xx is success.
func (c *Client) PatchResponse(ctx context.Context, id string, resp *Response) error {
	if resp == nil {
		return errors.New("epc: PatchResponse: nil response")
	}
	p, err := txPath(id, "response")
	if err != nil {
		return err
	}
	_, err = c.call(ctx, http.MethodPatch, p, resp)
	return err
}

// txPath builds /partner/v2/transactions/{id}/{segs...} with every variable segment escaped.
func txPath(id string, segs ...string) (string, error) {
	if err := checkSegment("transaction id", id); err != nil {
		return "", err
	}
	var b strings.Builder
	b.WriteString(transactionsPath)
	b.WriteString(url.PathEscape(id))
	for _, s := range segs {
		if err := checkSegment("path segment", s); err != nil {
			return "", err
		}
		b.WriteByte('/')
		b.WriteString(url.PathEscape(s))
	}
	return b.String(), nil
}

// checkSegment refuses empty ids and dot segments, which PathEscape leaves as they are and a
// server would resolve to another resource.
func checkSegment(what, s string) error {
	switch s {
	case "":
		return fmt.Errorf("epc: %s: required", what)
	case ".", "..":
		return fmt.Errorf("epc: %s: must not be %q", what, s)
	}
	return nil
}
