package epc

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"net/url"
	"path"
)

// ListEvents reads GET /partner/v2/transactions/{id}/events.
func (c *Client) ListEvents(ctx context.Context, id string) ([]Event, error) {
	return txCall[[]Event](ctx, c, http.MethodGet, nil, id, "events")
}

// GetEvent reads GET /partner/v2/transactions/{id}/events/{eventID}.
func (c *Client) GetEvent(ctx context.Context, id, eventID string) (*Event, error) {
	return ref(txCall[Event](ctx, c, http.MethodGet, nil, id, "events", eventID))
}

// CreateEvent sends POST /partner/v2/transactions/{id}/events and returns the stored event.
// [ours] the reply is 201 with the event; should a platform reply without a body, the event
// is rebuilt from the input and the id taken from the Location header, so that a created
// event is never reported as a failure (a retry would post it twice).
func (c *Client) CreateEvent(ctx context.Context, id string, ev NewEvent) (*Event, error) {
	if ev.Type == "" {
		return nil, errors.New("epc: CreateEvent: type: required")
	}
	p, err := txPath(id, "events")
	if err != nil {
		return nil, err
	}
	rep, err := c.call(ctx, http.MethodPost, p, ev)
	if err != nil {
		return nil, err
	}
	if len(bytes.TrimSpace(rep.body)) == 0 {
		out := &Event{Text: ev.Text, Type: ev.Type, Comments: ev.Comments, Resources: ev.Resources}
		if loc := rep.header.Get("Location"); loc != "" {
			if u, err := url.Parse(loc); err == nil {
				out.ID = path.Base(u.Path)
			}
		}
		return out, nil
	}
	var stored Event
	if err := decodeReply(http.MethodPost, p, rep.body, &stored); err != nil {
		return nil, err
	}
	return &stored, nil
}
