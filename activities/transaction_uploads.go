package activities

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"time"

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
	defer keepAlive(ctx)()
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
	if r, ok := attachedAs(tx, in.File.Name); ok {
		log.Info("file already uploaded", "resourceId", r.ID, "name", r.Name)
		return r, "", nil
	}
	if tx.Status == epc.TransactionCompleted {
		return epc.Resource{}, "", nonRetryableClosed(in.TransactionID)
	}
	if id := a.txInfo(tx).CanceledEventID; unlessCanceled && id != "" {
		log.Info("file not uploaded: the lender canceled the request", "name", in.File.Name)
		return epc.Resource{}, id, nil
	}
	res, err := a.uploadTo(ctx, in)
	return res, "", err
}

// attachedAs returns the resource named name attached to tx's response.
func attachedAs(tx *epc.Transaction, name string) (epc.Resource, bool) {
	if tx.Response != nil {
		for _, r := range tx.Response.Resources {
			if r.Name == name {
				return epc.Resource{ID: r.ID, Name: r.Name, MimeType: r.MimeType}, true
			}
		}
	}
	return epc.Resource{}, false
}

// uploadTo fills a slot with the file and attaches it beside the resources attached to the
// transaction's response.
//
// Two attempts may run at once: Temporal starts a second one when the first missed its
// heartbeat timeout (the server down a while, the machine starved) although the first still
// runs. keepAlive makes that rare, and a stale attempt's context is canceled once its
// heartbeat is refused, but until then both act. They converge on one slot and one attach:
//   - slot: a new slot is noted only when no other attempt noted one meanwhile (else that
//     one is used and ours stays empty, as a lost create reply leaves one), and right before
//     the PUT the note is read again and whichever slot it names is the one filled. Both
//     attempts fill and attach the same slot unless one notes its slot after the other's
//     last read of the note (the store has no compare-and-set): then two slots are filled.
//   - attach: right before the PUT and again right before the PATCH the transaction is read
//     again; a resource of this name attached by the other attempt is returned as is, and
//     our slot stays unfilled or, past the PUT, unattached. The PATCH lists the resources as
//     just read, so it never drops what the other attempt attached before that read; one
//     attached after it (within the PATCH's round trip) is replaced by ours.
func (a *Transaction) uploadTo(ctx context.Context, in UploadInput) (epc.Resource, error) {
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
	} else if slot, noted, err = a.newSlot(ctx, key, in); err != nil {
		return epc.Resource{}, err
	}

	// Just before the PUT: the file attached meanwhile, or another attempt's slot noted.
	if _, r, done, err := a.attachedNow(ctx, in); done || err != nil {
		return r, err
	}
	if cur, ok := a.notedSlot(ctx, key, in.File); ok && cur.ID != slot.ID {
		log.Info("filling the upload slot another attempt noted", "resourceId", cur.ID, "unfilled", slot.ID)
		slot, noted = cur, true
	}
	var openErr error
	err = a.retryWrite(ctx, uploadTries, func() error {
		if err := ctx.Err(); err != nil {
			return err // a stale attempt fills nothing
		}
		f, err := a.Blobs.Open(ctx, in.File.SHA256)
		if err != nil {
			openErr = fmt.Errorf("open %s: %w", in.File.Name, err)
			return openErr
		}
		defer f.Close()
		return a.EPC.UploadBytes(ctx, slot, f, in.File.Size)
	})
	switch {
	case openErr != nil:
		return epc.Resource{}, openErr
	case err != nil && noted && !epc.IsRetryable(err) && ctx.Err() == nil:
		// The platform refuses the noted slot (an expired grant, say): forget it, and the
		// next attempt asks for a new one.
		_ = a.Blobs.DeleteNote(ctx, key)
		return epc.Resource{}, temporal.NewApplicationError(fmt.Sprintf("upload bytes to the slot of an earlier attempt: %v; a new slot will be asked for", err), ErrTypeUnavailable)
	case err != nil:
		return epc.Resource{}, epcError("upload bytes", err)
	}

	// Just before the PATCH: attached meanwhile by another attempt, or closed.
	tx, r, done, err := a.attachedNow(ctx, in)
	if done || err != nil {
		return r, err
	}
	res := epc.Resource{ID: slot.ID, Name: in.File.Name, MimeType: in.File.MimeType}
	var attached []epc.Resource
	if tx.Response != nil {
		for _, r := range tx.Response.Resources {
			attached = append(attached, epc.Resource{ID: r.ID, Name: r.Name, MimeType: r.MimeType})
		}
	}
	if err := ctx.Err(); err != nil {
		return epc.Resource{}, epcError("attach resource", err) // a stale attempt attaches nothing
	}
	if _, err := a.writeResponse(ctx, tx, &epc.Response{Resources: append(attached, res)}); err != nil {
		if errors.Is(err, errClosed) {
			return epc.Resource{}, nonRetryableClosed(in.TransactionID)
		}
		return epc.Resource{}, epcError("attach resource", err)
	}
	_ = a.Blobs.DeleteNote(ctx, key) // attached: the response now says where the file is
	log.Info("file uploaded", "resourceId", res.ID, "name", res.Name, "bytes", in.File.Size, "took", time.Since(start))
	return res, nil
}

// newSlot asks for a slot and notes it, unless another attempt noted one meanwhile: then it
// returns that one (noted), and ours stays empty.
func (a *Transaction) newSlot(ctx context.Context, key string, in UploadInput) (epc.Resource, bool, error) {
	log := a.logger(ctx, in.TransactionID)
	// Asking again after a failure costs at most an empty slot nobody sees.
	var slots []epc.Resource
	if err := a.retryWrite(ctx, writeTries, func() (err error) {
		if err := ctx.Err(); err != nil {
			return err // a stale attempt asks for nothing
		}
		slots, err = a.EPC.CreateResources(ctx, in.TransactionID, []epc.NewResource{{Name: in.File.Name, MimeType: in.File.MimeType}})
		return err
	}); err != nil {
		return epc.Resource{}, false, epcError("create resource", err)
	}
	if len(slots) != 1 {
		return epc.Resource{}, false, fmt.Errorf("create resource: platform returned %d slots, want 1", len(slots))
	}
	if other, ok := a.notedSlot(ctx, key, in.File); ok {
		log.Info("using the upload slot another attempt noted", "resourceId", other.ID, "unfilled", slots[0].ID)
		return other, true, nil
	}
	if err := a.noteSlot(ctx, key, in.File, slots[0]); err != nil {
		// Not fatal: without the note a later attempt asks for a new slot.
		log.Warn("upload slot not noted", "resourceId", slots[0].ID, "error", err)
	}
	return slots[0], false, nil
}

// attachedNow reads the transaction again: done with the resource of in's name when another
// attempt attached one meanwhile, else the transaction as read; an error when it is closed.
func (a *Transaction) attachedNow(ctx context.Context, in UploadInput) (*epc.Transaction, epc.Resource, bool, error) {
	tx, err := a.EPC.GetTransaction(ctx, in.TransactionID)
	if err != nil {
		return nil, epc.Resource{}, false, epcError("get transaction", err)
	}
	if r, ok := attachedAs(tx, in.File.Name); ok {
		a.logger(ctx, in.TransactionID).Info("file attached meanwhile by another attempt", "resourceId", r.ID, "name", r.Name)
		_ = a.Blobs.DeleteNote(ctx, slotNoteKey(in.TransactionID, in.File))
		return tx, r, true, nil
	}
	if tx.Status == epc.TransactionCompleted {
		return nil, epc.Resource{}, false, nonRetryableClosed(in.TransactionID)
	}
	return tx, epc.Resource{}, false, nil
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
