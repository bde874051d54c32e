package activities

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/temporal"

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
// to the response is the one an earlier attempt made, and is returned as is; the slot an
// earlier attempt obtained (noted in the blob store) is filled and attached, not a new one.
func (a *Transaction) UploadFile(ctx context.Context, in UploadInput) (epc.Resource, error) {
	r, _, err := a.upload(ctx, in, false)
	return r, err
}

// upload is UploadFile; with unlessCanceled it uploads nothing when the lender has canceled
// the request, and returns the cancellation's event id instead.
func (a *Transaction) upload(ctx context.Context, in UploadInput, unlessCanceled bool) (epc.Resource, string, error) {
	log := a.logger(ctx, in.TransactionID)
	if in.File.Name == "" || in.File.MimeType == "" || !blobs.ValidSHA256(in.File.SHA256) {
		return epc.Resource{}, "", invalid("upload of %q: name, mimeType and sha256 are required", in.File.Name)
	}
	tx, err := a.EPC.GetTransaction(ctx, in.TransactionID)
	if err != nil {
		return epc.Resource{}, "", epcError("get transaction", err)
	}
	var attached []epc.Resource
	if tx.Response != nil {
		for _, r := range tx.Response.Resources {
			if r.Name == in.File.Name {
				log.Info("file already uploaded", "resourceId", r.ID, "name", r.Name)
				return epc.Resource{ID: r.ID, Name: r.Name, MimeType: r.MimeType}, "", nil
			}
			attached = append(attached, epc.Resource{ID: r.ID, Name: r.Name, MimeType: r.MimeType})
		}
	}
	if tx.Status == epc.TransactionCompleted {
		return epc.Resource{}, "", nonRetryableClosed(in.TransactionID)
	}
	if id := a.txInfo(tx).CanceledEventID; unlessCanceled && id != "" {
		log.Info("file not uploaded: the lender canceled the request", "name", in.File.Name)
		return epc.Resource{}, id, nil
	}
	res, err := a.uploadTo(ctx, in, tx, attached)
	return res, "", err
}

// uploadTo fills a slot with the file and attaches it beside the resources already attached
// to tx's response.
func (a *Transaction) uploadTo(ctx context.Context, in UploadInput, tx *epc.Transaction, attached []epc.Resource) (epc.Resource, error) {
	log := a.logger(ctx, in.TransactionID)
	// The bytes are checked before a slot is asked for, so a missing file costs no slot.
	f, err := a.Blobs.Open(ctx, in.File.SHA256)
	if err != nil {
		return epc.Resource{}, fmt.Errorf("open %s: %w", in.File.Name, err)
	}
	f.Close()
	// The workflow references the file: the store's sweeper must never remove it (the API
	// marks a delivered report too, but may have died before it could).
	if err := a.Blobs.Keep(ctx, in.File.SHA256); err != nil {
		return epc.Resource{}, fmt.Errorf("keep %s: %w", in.File.Name, err)
	}

	// A slot an earlier attempt obtained is filled again rather than a new one asked for: its
	// bytes may have arrived although the reply was lost, and EPC lists no unattached slots,
	// so a new slot could leave a second copy behind. The same bytes PUT again change nothing.
	key := slotNoteKey(in.TransactionID, in.File)
	slot, noted := a.notedSlot(ctx, key, in.File)
	start := time.Now()
	if noted {
		log.Info("filling the upload slot of an earlier attempt", "resourceId", slot.ID)
	} else {
		// Asking again after a failure costs at most an empty slot nobody sees.
		var slots []epc.Resource
		if err := a.retryWrite(ctx, writeTries, func() (err error) {
			slots, err = a.EPC.CreateResources(ctx, in.TransactionID, []epc.NewResource{{Name: in.File.Name, MimeType: in.File.MimeType}})
			return err
		}); err != nil {
			return epc.Resource{}, epcError("create resource", err)
		}
		if len(slots) != 1 {
			return epc.Resource{}, fmt.Errorf("create resource: platform returned %d slots, want 1", len(slots))
		}
		slot = slots[0]
		if err := a.noteSlot(ctx, key, in.File, slot); err != nil {
			// Not fatal: without the note a later attempt asks for a new slot.
			log.Warn("upload slot not noted", "resourceId", slot.ID, "error", err)
		}
	}
	var openErr error
	err = a.retryWrite(ctx, uploadTries, func() error {
		f, err := a.Blobs.Open(ctx, in.File.SHA256)
		if err != nil {
			openErr = fmt.Errorf("open %s: %w", in.File.Name, err)
			return openErr
		}
		defer f.Close()
		return a.EPC.UploadBytes(ctx, slot, &heartbeatReader{ctx: ctx, r: f}, in.File.Size)
	})
	switch {
	case openErr != nil:
		return epc.Resource{}, openErr
	case err != nil && noted && !epc.IsRetryable(err):
		// The platform refuses the noted slot (an expired grant, say): forget it, and the
		// next attempt asks for a new one.
		_ = a.Blobs.DeleteNote(ctx, key)
		return epc.Resource{}, temporal.NewApplicationError(fmt.Sprintf("upload bytes to the slot of an earlier attempt: %v; a new slot will be asked for", err), ErrTypeUnavailable)
	case err != nil:
		return epc.Resource{}, epcError("upload bytes", err)
	}
	res := epc.Resource{ID: slot.ID, Name: in.File.Name, MimeType: in.File.MimeType}
	attached = append(attached, res)
	if _, err := a.writeResponse(ctx, tx, &epc.Response{Resources: attached}); err != nil {
		if errors.Is(err, errClosed) {
			return epc.Resource{}, nonRetryableClosed(in.TransactionID)
		}
		return epc.Resource{}, epcError("attach resource", err)
	}
	_ = a.Blobs.DeleteNote(ctx, key) // attached: the response now says where the file is
	log.Info("file uploaded", "resourceId", res.ID, "name", res.Name, "bytes", in.File.Size, "took", time.Since(start))
	return res, nil
}

// slotNote is an upload slot as noted between attempts: the grant to fill it included.
type slotNote struct {
	SHA256 string       `json:"sha256"`
	Slot   epc.Resource `json:"slot"`
}

// slotNoteKey names the note of one file's upload to one transaction.
func slotNoteKey(txID string, f blobs.File) string {
	sum := sha256.Sum256([]byte(txID + "\x00" + f.SHA256 + "\x00" + f.Name))
	return "upload-" + hex.EncodeToString(sum[:])
}

// notedSlot returns the slot an earlier attempt noted for this file.
func (a *Transaction) notedSlot(ctx context.Context, key string, f blobs.File) (epc.Resource, bool) {
	b, err := a.Blobs.Note(ctx, key)
	if err != nil {
		if !errors.Is(err, blobs.ErrNotFound) {
			a.logger(ctx, "").Warn("upload slot note unreadable", "error", err)
		}
		return epc.Resource{}, false
	}
	var n slotNote
	if err := json.Unmarshal(b, &n); err != nil || n.SHA256 != f.SHA256 || n.Slot.ID == "" || n.Slot.Location == "" {
		return epc.Resource{}, false
	}
	return n.Slot, true
}

func (a *Transaction) noteSlot(ctx context.Context, key string, f blobs.File, slot epc.Resource) error {
	b, err := json.Marshal(slotNote{SHA256: f.SHA256, Slot: slot})
	if err != nil {
		return err
	}
	return a.Blobs.PutNote(ctx, key, b)
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
