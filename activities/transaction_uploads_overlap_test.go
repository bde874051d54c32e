package activities

import (
	"context"
	"io"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/epcflow/epcflow/blobs"
	"github.com/epcflow/epcflow/epc"
)

// overlappingEPC is the platform as seen by an attempt Temporal has given up on (its
// heartbeat missed) while it still runs: during one of its calls, the next attempt runs
// whole. The call named by during lets the other attempt run once: a read after it was
// taken (the attempt goes on with what it read), a slot request after the slot was granted
// (the reply was slow), a PUT or a PATCH before it lands.
type overlappingEPC struct {
	*fakeEPC
	during string
	other  func()
}

func (o *overlappingEPC) meanwhile(op string) {
	if o.during == op && o.other != nil {
		run := o.other
		o.other = nil
		run()
	}
}

func (o *overlappingEPC) GetTransaction(ctx context.Context, id string) (*epc.Transaction, error) {
	tx, err := o.fakeEPC.GetTransaction(ctx, id)
	o.meanwhile("read")
	return tx, err
}

func (o *overlappingEPC) CreateResources(ctx context.Context, id string, rs []epc.NewResource) ([]epc.Resource, error) {
	slots, err := o.fakeEPC.CreateResources(ctx, id, rs)
	o.meanwhile("create")
	return slots, err
}

func (o *overlappingEPC) UploadBytes(ctx context.Context, slot epc.Resource, body io.Reader, size int64) error {
	o.meanwhile("put")
	return o.fakeEPC.UploadBytes(ctx, slot, body, size)
}

func (o *overlappingEPC) PatchResponse(ctx context.Context, id string, r *epc.Response) error {
	o.meanwhile("attach")
	return o.fakeEPC.PatchResponse(ctx, id, r)
}

// TestOverlappingUploadAttemptsLeaveOneCopy: a second attempt of the same upload runs whole
// while the first is at each of its steps (the drill's "a second copy of FloodCertificate.pdf
// was uploaded and never attached"). Both end with the same resource; the platform holds the
// file once: one slot filled, and it is the one attached. A slot asked for and left empty is
// allowed (a lost reply leaves one too; nobody sees it).
func TestOverlappingUploadAttemptsLeaveOneCopy(t *testing.T) {
	for _, during := range []string{"read", "create", "put", "attach"} {
		for _, complete := range []bool{false, true} {
			name := during
			if complete {
				name += "/UploadAndComplete"
			}
			t.Run(name, func(t *testing.T) {
				ctx := context.Background()
				platform := &fakeEPC{tx: pendingTx("FloodCertification")}
				second := newActs(t, platform)
				first := newActs(t, platform)
				first.Blobs = second.Blobs // the workers share the blob store
				pdf := RenderPDF([]string{"Flood certificate", "Zone X"})
				sha, err := first.Blobs.PutBytes(ctx, pdf)
				require.NoError(t, err)
				file := blobs.File{SHA256: sha, Size: int64(len(pdf)), Name: FloodCertificateName, MimeType: "application/pdf"}
				run := func(a *Transaction) (epc.Resource, error) {
					if !complete {
						return a.UploadFile(ctx, UploadInput{TransactionID: "tx-1", File: file})
					}
					out, err := a.UploadAndComplete(ctx, CompleteInput{
						TransactionID: "tx-1", Files: []blobs.File{file},
						Patch: epc.Response{Status: epc.StatusCompleted, PartnerStatus: "Flood Certificate Delivered"},
					})
					if err != nil || len(out.Resources) != 1 {
						return epc.Resource{}, err
					}
					return out.Resources[0], nil
				}

				var got2 epc.Resource
				var err2 error
				first.EPC = &overlappingEPC{fakeEPC: platform, during: during, other: func() { got2, err2 = run(second) }}
				got1, err1 := run(first)
				attached := platform.tx.Response.Resources
				require.Len(t, attached, 1, "the file is attached once")
				for id := range platform.filled {
					require.Equal(t, attached[0].ID, id, "slot %s was filled and never attached: a second copy", id)
				}
				require.NoError(t, err2, "the second attempt")
				require.Equal(t, attached[0], got2)
				// The first may fail (the transaction closed under it): Temporal has its result
				// from the second anyway. When it succeeds, it names the same resource.
				if err1 == nil {
					require.Equal(t, got2, got1, "both attempts name the same resource")
				}
				if complete {
					require.Equal(t, epc.StatusCompleted, platform.tx.Response.Status)
				}
			})
		}
	}
}
