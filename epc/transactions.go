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
	return ref(txCall[Transaction](ctx, c, http.MethodGet, nil, id))
}

// GetRequest reads GET /partner/v2/transactions/{id}/request.
func (c *Client) GetRequest(ctx context.Context, id string) (*Request, error) {
	return ref(txCall[Request](ctx, c, http.MethodGet, nil, id, "request"))
}

// ListRequestResources reads the lender's attachments:
// GET /partner/v2/transactions/{id}/request/resources.
func (c *Client) ListRequestResources(ctx context.Context, id string) ([]Resource, error) {
	return txCall[[]Resource](ctx, c, http.MethodGet, nil, id, "request", "resources")
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

// txCall sends method to /partner/v2/transactions/{id}/{segs...} with in as its JSON body
// (nil: none) and decodes the required JSON reply into a T. On any failure it returns T's
// zero value, never a half-decoded one.
func txCall[T any](ctx context.Context, c *Client, method string, in any, id string, segs ...string) (T, error) {
	var out T
	p, err := txPath(id, segs...)
	if err == nil {
		err = c.callJSON(ctx, method, p, in, &out)
	}
	if err != nil {
		var zero T
		return zero, err
	}
	return out, nil
}

// ref turns a (value, error) pair into a pointer, nil on error.
func ref[T any](v T, err error) (*T, error) {
	if err != nil {
		return nil, err
	}
	return &v, nil
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
