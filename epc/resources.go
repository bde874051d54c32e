package epc

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
)

// CreateResources asks for upload slots: POST /partner/v2/transactions/{id}/response/resources
// → [{id, name, mimeType, location, authorization}], one per requested resource.
func (c *Client) CreateResources(ctx context.Context, id string, rs []NewResource) ([]Resource, error) {
	if len(rs) == 0 {
		return nil, errors.New("epc: CreateResources: at least one resource required")
	}
	var problems []string
	for i, r := range rs {
		if r.Name == "" {
			problems = append(problems, fmt.Sprintf("/%d/name: required", i))
		}
		if r.MimeType == "" {
			problems = append(problems, fmt.Sprintf("/%d/mimeType: required", i))
		}
	}
	if len(problems) > 0 {
		return nil, fmt.Errorf("epc: CreateResources: %s", strings.Join(problems, "; "))
	}
	return txCall[[]Resource](ctx, c, http.MethodPost, rs, id, "response", "resources")
}

// UploadBytes PUTs a file's bytes to an upload slot from CreateResources, with the slot's own
// authorization (sent as is, not as a bearer token) and content type. size is the body
// length, or -1 when unknown. The platform's access token is never sent to the slot.
func (c *Client) UploadBytes(ctx context.Context, slot Resource, body io.Reader, size int64) error {
	u, err := url.Parse(slot.Location)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return errors.New("epc: UploadBytes: slot location must be an absolute http(s) URL")
	}
	if slot.Authorization == "" {
		return errors.New("epc: UploadBytes: slot authorization: required")
	}
	if slot.MimeType == "" {
		return errors.New("epc: UploadBytes: slot mimeType: required")
	}
	if body == nil {
		body = http.NoBody
	}
	logPath := u.EscapedPath() // the query is a signed grant: never logged
	req, err := http.NewRequestWithContext(ctx, http.MethodPut, slot.Location, body)
	if err != nil {
		return fmt.Errorf("epc: PUT %s: build request: %w", logPath, sanitizeURLError(err))
	}
	if size >= 0 {
		req.ContentLength = size
		if size == 0 {
			req.Body = http.NoBody
		}
	}
	req.Header.Set("Authorization", slot.Authorization)
	req.Header.Set("Content-Type", slot.MimeType)
	req.Header.Set("User-Agent", c.ua)
	rep, err := c.exchange(ctx, req, logPath)
	if err != nil {
		return err
	}
	if !is2xx(rep.status) {
		return c.apiError(http.MethodPut, logPath, rep)
	}
	return nil
}

// UploadResource creates one upload slot and PUTs data to it, returning the resource as it is
// listed in a later PatchResponse (id, name, mimeType; no location or authorization). The
// attach step is the caller's, since that PATCH carries the whole intended response.
func (c *Client) UploadResource(ctx context.Context, id, name, mimeType string, data []byte) (Resource, error) {
	slots, err := c.CreateResources(ctx, id, []NewResource{{Name: name, MimeType: mimeType}})
	if err != nil {
		return Resource{}, err
	}
	if len(slots) != 1 {
		return Resource{}, fmt.Errorf("epc: UploadResource: platform returned %d upload slots, want 1", len(slots))
	}
	slot := slots[0]
	if slot.ID == "" {
		return Resource{}, errors.New("epc: UploadResource: upload slot has no id")
	}
	if slot.Name == "" {
		slot.Name = name
	}
	if slot.MimeType == "" {
		slot.MimeType = mimeType
	}
	if err := c.UploadBytes(ctx, slot, bytes.NewReader(data), int64(len(data))); err != nil {
		return Resource{}, err
	}
	return Resource{ID: slot.ID, Name: slot.Name, MimeType: slot.MimeType}, nil
}
