package activities

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"strings"
	"time"

	"github.com/epcflow/epcflow/blobs"
	"github.com/epcflow/epcflow/vocab"
)

// FloodInput asks for a flood zone determination.
type FloodInput struct {
	TransactionID string   `json:"transactionId"`
	LoanNumber    string   `json:"loanNumber,omitempty"`
	Property      Property `json:"property"`
}

// FloodDetermination is the outcome of a Standard Flood Hazard Determination.
type FloodDetermination struct {
	DeterminationID    string `json:"determinationId"`
	Zone               string `json:"zone"`
	SpecialFloodHazard bool   `json:"specialFloodHazard"`
	CommunityNumber    string `json:"communityNumber"`
	MapPanel           string `json:"mapPanel"`
	MapDate            string `json:"mapDate"`
	InsuranceRequired  bool   `json:"insuranceRequired"`
}

// Flood zones a determination can return, weighted toward the common minimal-risk zone X.
var floodZones = []string{"X", "X", "X", "X", "X", "X", "AE", "A", "AO", "VE"}

// DetermineFlood computes the flood determination. It stands in for a flood-data back-end: the
// answer is a pure function of the address, so a retried attempt gives the same determination.
func (a *Transaction) DetermineFlood(ctx context.Context, in FloodInput) (FloodDetermination, error) {
	p := in.Property
	if strings.TrimSpace(p.StreetAddress) == "" || strings.TrimSpace(p.PostalCode) == "" {
		return FloodDetermination{}, invalid("flood determination needs property streetAddress and postalCode")
	}
	key := strings.ToUpper(strings.Join([]string{p.StreetAddress, p.City, p.State, p.PostalCode}, "|"))
	sum := sha256.Sum256([]byte(key))
	n := binary.BigEndian.Uint64(sum[:8])
	zone := floodZones[n%uint64(len(floodZones))]
	sfha := strings.HasPrefix(zone, "A") || strings.HasPrefix(zone, "V")
	d := FloodDetermination{
		DeterminationID:    fmt.Sprintf("FD-%X", sum[8:14]),
		Zone:               zone,
		SpecialFloodHazard: sfha,
		CommunityNumber:    fmt.Sprintf("%06d", n%1000000),
		MapPanel:           fmt.Sprintf("%05dC%04d%s", (n>>20)%100000, (n>>8)%10000, string(rune('A'+n%6))),
		MapDate:            time.Date(2008+int(n%15), time.Month(1+(n>>4)%12), 1+int((n>>9)%28), 0, 0, 0, 0, time.UTC).Format("2006-01-02"),
		InsuranceRequired:  sfha,
	}
	a.logger(ctx, in.TransactionID).Info("flood determined", "zone", d.Zone, "sfha", d.SpecialFloodHazard)
	return d, nil
}

// CertificateInput asks for a flood certificate PDF.
type CertificateInput struct {
	TransactionID string             `json:"transactionId"`
	LoanNumber    string             `json:"loanNumber,omitempty"`
	Property      Property           `json:"property"`
	Determination FloodDetermination `json:"determination"`
	// IssuedAt is fixed by the workflow, so a retried attempt renders the same bytes.
	IssuedAt time.Time `json:"issuedAt"`
}

// FloodCertificateName is the file name of the flood certificate resource.
const FloodCertificateName = "FloodCertificate.pdf"

// GenerateFloodCertificate renders the Standard Flood Hazard Determination certificate as a PDF
// and stores it in the blob store.
func (a *Transaction) GenerateFloodCertificate(ctx context.Context, in CertificateInput) (blobs.File, error) {
	d, p := in.Determination, in.Property
	yes := map[bool]string{true: "YES", false: "NO"}
	lines := []string{
		"STANDARD FLOOD HAZARD DETERMINATION",
		"",
		"Determination ID: " + d.DeterminationID,
		"EPC transaction: " + in.TransactionID,
		"Loan number: " + in.LoanNumber,
		"Property: " + p.StreetAddress + ", " + p.City + ", " + p.State + " " + p.PostalCode,
		"County: " + p.County,
		"",
		"NFIP community number: " + d.CommunityNumber,
		"Map panel: " + d.MapPanel + "   Map date: " + d.MapDate,
		"Flood zone: " + d.Zone,
		"In a Special Flood Hazard Area: " + yes[d.SpecialFloodHazard],
		"Flood insurance required: " + yes[d.InsuranceRequired],
		"",
		"Issued: " + in.IssuedAt.UTC().Format(time.RFC3339),
	}
	pdf := RenderPDF(lines)
	sha, err := a.Blobs.PutBytes(ctx, pdf)
	if err != nil {
		return blobs.File{}, fmt.Errorf("store certificate: %w", err)
	}
	// The workflow will reference it: never swept (see blobs.Sweep).
	if err := a.Blobs.Keep(ctx, sha); err != nil {
		return blobs.File{}, fmt.Errorf("keep certificate: %w", err)
	}
	return blobs.File{SHA256: sha, Size: int64(len(pdf)), Name: FloodCertificateName, MimeType: "application/pdf"}, nil
}

// ReleaseInput asks to release a scheduled inspection after a cancellation.
type ReleaseInput struct {
	TransactionID string    `json:"transactionId"`
	Appraiser     string    `json:"appraiser,omitempty"`
	InspectionAt  time.Time `json:"inspectionAt"`
}

// ReleaseInspection frees the appraiser's slot and tells the lender, as a partner event, that
// the inspection was released. Idempotent through PostEvent.
func (a *Transaction) ReleaseInspection(ctx context.Context, in ReleaseInput) (EventInfo, error) {
	return a.PostEvent(ctx, PostEventInput{
		TransactionID: in.TransactionID,
		Type:          a.Vocabulary.Get(vocab.EventAppraisalReleased),
		Text:          "Inspection Released",
		Comments:      "The inspection scheduled for " + in.InspectionAt.UTC().Format("2006-01-02 15:04 MST") + " was released after the order was canceled",
	})
}
