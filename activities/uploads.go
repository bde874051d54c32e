package activities

import (
	"context"
	"errors"
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
// to the response is the one an earlier attempt made, and is returned as is; a slot an earlier
// attempt filled (its heartbeat says which) is attached rather than uploaded again.
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
	// The bytes are checked before a slot is asked for, so a missing file costs no slot.
	f, err := a.Blobs.Open(ctx, in.File.SHA256)
	if err != nil {
		return epc.Resource{}, fmt.Errorf("open %s: %w", in.File.Name, err)
	}
	f.Close()

	slot, resumed := uploadedEarlier(ctx, in.File)
	start := time.Now()
	if resumed {
		log.Info("resuming: an earlier attempt uploaded the bytes", "resourceId", slot.ID)
	} else {
		slots, err := a.EPC.CreateResources(ctx, in.TransactionID, []epc.NewResource{{Name: in.File.Name, MimeType: in.File.MimeType}})
		if err != nil {
			return epc.Resource{}, epcError("create resource", err)
		}
		if len(slots) != 1 {
			return epc.Resource{}, fmt.Errorf("create resource: platform returned %d slots, want 1", len(slots))
		}
		slot = slots[0]
		// From here on a failed step is tried again within this attempt: a new attempt would
		// have to ask for a new slot (EPC lists no unattached ones), leaving this one behind.
		var openErr error
		err = retryWrite(ctx, func() error {
			f, err := a.Blobs.Open(ctx, in.File.SHA256)
			if err != nil {
				openErr = fmt.Errorf("open %s: %w", in.File.Name, err)
				return openErr
			}
			defer f.Close()
			return a.EPC.UploadBytes(ctx, slot, &heartbeatReader{ctx: ctx, r: f, last: time.Now()}, in.File.Size)
		})
		switch {
		case openErr != nil:
			return epc.Resource{}, openErr
		case err != nil:
			return epc.Resource{}, epcError("upload bytes", err)
		}
		// Once the bytes are there, a later attempt only needs to attach them. Heartbeat
		// details carry the slot's id, never its location or authorization.
		recordUploaded(ctx, in.File, slot)
	}
	res := epc.Resource{ID: slot.ID, Name: in.File.Name, MimeType: in.File.MimeType}
	attached = append(attached, res)
	if _, err := a.writeResponse(ctx, tx, &epc.Response{Resources: attached}); err != nil {
		if errors.Is(err, errClosed) {
			return epc.Resource{}, nonRetryableClosed(in.TransactionID)
		}
		return epc.Resource{}, epcError("attach resource", err)
	}
	log.Info("file uploaded", "resourceId", res.ID, "name", res.Name, "bytes", in.File.Size, "took", time.Since(start))
	return res, nil
}

// uploadProgress is UploadFile's heartbeat: the slot an attempt filled with the file's bytes.
type uploadProgress struct {
	SHA256     string `json:"sha256"`
	ResourceID string `json:"resourceId"`
	Name       string `json:"name"`
	MimeType   string `json:"mimeType"`
}

// uploadedEarlier returns the slot an earlier attempt of this activity filled with file.
func uploadedEarlier(ctx context.Context, file blobs.File) (epc.Resource, bool) {
	if !activity.IsActivity(ctx) || !activity.HasHeartbeatDetails(ctx) {
		return epc.Resource{}, false
	}
	var p uploadProgress
	if err := activity.GetHeartbeatDetails(ctx, &p); err != nil || p.SHA256 != file.SHA256 || p.ResourceID == "" || p.Name != file.Name {
		return epc.Resource{}, false
	}
	return epc.Resource{ID: p.ResourceID, Name: p.Name, MimeType: p.MimeType}, true
}

// recordUploaded heartbeats the filled slot. The SDK sends a first heartbeat at once and
// flushes a buffered one when the attempt fails, so a retry finds it.
func recordUploaded(ctx context.Context, file blobs.File, slot epc.Resource) {
	if activity.IsActivity(ctx) {
		activity.RecordHeartbeat(ctx, uploadProgress{SHA256: file.SHA256, ResourceID: slot.ID, Name: file.Name, MimeType: file.MimeType})
	}
}

// heartbeatReader heartbeats while a long upload streams, so a stuck upload is noticed. It
// starts a second in, so that a small file's first heartbeat is recordUploaded's, which the
// SDK then sends at once rather than batching it.
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
