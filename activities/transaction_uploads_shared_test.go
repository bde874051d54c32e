package activities

import (
	"bytes"
	"context"
	"io"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/epcflow/epcflow/blobs"
	"github.com/epcflow/epcflow/blobs/blobstest"
	"github.com/epcflow/epcflow/epc"
)

// dyingEPC is the platform as seen by a worker that is killed once its upload slot has been
// granted: the attempt ends before any byte leaves.
type dyingEPC struct {
	*fakeEPC
	kill context.CancelFunc
}

func (d dyingEPC) UploadBytes(ctx context.Context, _ epc.Resource, _ io.Reader, _ int64) error {
	d.kill()
	<-ctx.Done()
	return ctx.Err()
}

// recordingEPC keeps the slots filled and the bytes that reach the platform.
type recordingEPC struct {
	*fakeEPC
	filled []epc.Resource
	bytes  [][]byte
}

func (r *recordingEPC) UploadBytes(ctx context.Context, slot epc.Resource, body io.Reader, size int64) error {
	b, err := io.ReadAll(body)
	if err != nil {
		return err
	}
	r.filled = append(r.filled, slot)
	r.bytes = append(r.bytes, b)
	return r.fakeEPC.UploadBytes(ctx, slot, bytes.NewReader(b), size)
}

// TestUploadContinuesOnAnotherWorker: two workers share nothing but an S3 bucket (each its own
// client, no shared memory or disk). The first asks for the upload slot, notes it and dies;
// the retried attempt runs on the second, which finds the note in the bucket and fills that
// same slot: the platform sees one slot request and the bytes once.
func TestUploadContinuesOnAnotherWorker(t *testing.T) {
	s3 := blobstest.NewS3(t)
	platform := &fakeEPC{tx: pendingTx("FloodCertification")}
	worker := func(api EPC) *Transaction {
		a := newActs(t, platform)
		store, err := blobs.NewS3(t.Context(), s3.Config)
		require.NoError(t, err)
		a.Blobs, a.EPC = store, api
		return a
	}

	attempt1, kill := context.WithCancel(t.Context())
	first := worker(dyingEPC{fakeEPC: platform, kill: kill})
	pdf := RenderPDF([]string{"Flood certificate", "Zone X"})
	sha, err := first.Blobs.PutBytes(attempt1, pdf) // as the activity that made it stored it
	require.NoError(t, err)
	in := UploadInput{TransactionID: "tx-1", File: blobs.File{SHA256: sha, Size: int64(len(pdf)), Name: FloodCertificateName, MimeType: "application/pdf"}}
	_, err = first.UploadFile(attempt1, in)
	require.Error(t, err, "the first worker died in the attempt")
	require.Equal(t, 1, platform.slots)
	require.Zero(t, platform.uploads)

	rec := &recordingEPC{fakeEPC: platform}
	second := worker(rec)
	res, err := second.UploadFile(t.Context(), in)
	require.NoError(t, err)
	require.Equal(t, 1, platform.slots, "one slot request: the second worker filled the slot the first one noted")
	require.Equal(t, 1, platform.uploads, "the bytes went once")
	require.Equal(t, [][]byte{pdf}, rec.bytes)
	require.Len(t, rec.filled, 1)
	require.Equal(t, "elli-signature abc", rec.filled[0].Authorization, "with the grant the first worker was given")
	require.Equal(t, epc.Resource{ID: "res-1", Name: FloodCertificateName, MimeType: "application/pdf"}, res)
	require.Equal(t, []epc.Resource{res}, platform.tx.Response.Resources)
	_, err = second.Blobs.Note(t.Context(), slotNoteKey("tx-1", in.File))
	require.ErrorIs(t, err, blobs.ErrNotFound, "the note is gone once the file is attached")
}
