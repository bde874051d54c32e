package activities

import (
	"context"
	"fmt"
	"io"
	"time"

	"go.temporal.io/sdk/activity"

	"github.com/epcflow/epcflow/blobs"
	"github.com/epcflow/epcflow/epc"
)

// UploadInput names a stored file to upload as a response resource.
type UploadInput struct {
	TransactionID string     `json:"transactionId"`
	File          blobs.File `json:"file"`
}

// UploadFile runs EPC's three-step upload: create the resource, PUT the bytes, attach it by a
// response PATCH listing every attached resource. A resource of the same name already attached
// to the response is the one an earlier attempt made, and is returned as is.
func (a *Activities) UploadFile(ctx context.Context, in UploadInput) (epc.Resource, error) {
	log := a.logger(ctx, in.TransactionID)
	if in.File.Name == "" || in.File.MimeType == "" || !blobs.ValidSHA256(in.File.SHA256) {
		return epc.Resource{}, invalid("upload of %q: name, mimeType and sha256 are required", in.File.Name)
	}
	tx, err := a.EPC.GetTransaction(ctx, in.TransactionID)
	if err != nil {
		return epc.Resource{}, epcError("get transaction", err)
	}
	var attached []epc.Resource
	if tx.Response != nil {
		for _, r := range tx.Response.Resources {
			if r.Name == in.File.Name {
				log.Info("file already uploaded", "resourceId", r.ID, "name", r.Name)
				return epc.Resource{ID: r.ID, Name: r.Name, MimeType: r.MimeType}, nil
			}
			attached = append(attached, epc.Resource{ID: r.ID, Name: r.Name, MimeType: r.MimeType})
		}
	}
	if tx.Status == epc.TransactionCompleted {
		return epc.Resource{}, nonRetryableClosed(in.TransactionID)
	}
	f, err := a.Blobs.Open(ctx, in.File.SHA256)
	if err != nil {
		return epc.Resource{}, fmt.Errorf("open %s: %w", in.File.Name, err)
	}
	defer f.Close()

	slots, err := a.EPC.CreateResources(ctx, in.TransactionID, []epc.NewResource{{Name: in.File.Name, MimeType: in.File.MimeType}})
	if err != nil {
		return epc.Resource{}, epcError("create resource", err)
	}
	if len(slots) != 1 {
		return epc.Resource{}, fmt.Errorf("create resource: platform returned %d slots, want 1", len(slots))
	}
	slot := slots[0]
	start := time.Now()
	if err := a.EPC.UploadBytes(ctx, slot, &heartbeatReader{ctx: ctx, r: f}, in.File.Size); err != nil {
		return epc.Resource{}, epcError("upload bytes", err)
	}
	res := epc.Resource{ID: slot.ID, Name: in.File.Name, MimeType: in.File.MimeType}
	attached = append(attached, res)
	if err := a.EPC.PatchResponse(ctx, in.TransactionID, &epc.Response{Resources: attached}); err != nil {
		return epc.Resource{}, epcError("attach resource", err)
	}
	log.Info("file uploaded", "resourceId", res.ID, "name", res.Name, "bytes", in.File.Size, "took", time.Since(start))
	return res, nil
}

// heartbeatReader heartbeats while a long upload streams, so a stuck upload is noticed.
type heartbeatReader struct {
	ctx  context.Context
	r    io.Reader
	last time.Time
}

func (h *heartbeatReader) Read(p []byte) (int, error) {
	if activity.IsActivity(h.ctx) && time.Since(h.last) > time.Second {
		activity.RecordHeartbeat(h.ctx)
		h.last = time.Now()
	}
	return h.r.Read(p)
}
