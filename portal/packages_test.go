package portal

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// record is what answering a package event decides, as the API builds it: invitations for
// users, and an answer holding each invitation's link.
func record(t *testing.T, key, packageID string, users map[string]string) (PackageRecord, []byte) {
	t.Helper()
	now := time.Now().UTC().Truncate(time.Second)
	rec := PackageRecord{Package: Package{Key: key, PackageID: packageID, InstanceID: "i", GroupNamespace: "loans", GroupID: key}}
	type link struct{ RecipientID, PortalURL, EmailHTML string }
	var links []link
	for _, rid := range []string{"r1", "r2"} {
		uid, ok := users[rid]
		if !ok {
			continue
		}
		inv := Invitation{ID: NewInvitationID(), RecipientID: rid, Role: "borrower", UserID: uid, Created: now, Expires: now.Add(time.Hour)}
		rec.Package.RecipientIDs = append(rec.Package.RecipientIDs, rid)
		rec.Invitations = append(rec.Invitations, inv)
		tok := testSecret.InvitationToken(inv.ID)
		links = append(links, link{rid, "https://p.example/portal/signin?token=" + tok, `<a href="https://p.example/portal/signin?token=` + tok + `">{{invitation x}}</a>`})
	}
	answer, err := json.Marshal(links)
	require.NoError(t, err)
	rec.Answer = SealAnswer(answer, rec.Invitations, testSecret)
	return rec, answer
}

func TestPackageRecords(t *testing.T) {
	onEachBackend(t, func(t *testing.T, s *Store) {
		ctx := context.Background()
		alice := mustUser(t, s, "alice@example.com")
		bob := mustUser(t, s, "bob@example.com")
		_, err := s.PackageRecord(ctx, "k1")
		require.ErrorIs(t, err, ErrNotFound)

		rec, answer := record(t, "k1", "pkg-1", map[string]string{"r1": alice.ID, "r2": bob.ID})
		for _, inv := range rec.Invitations {
			require.NotContains(t, string(rec.Answer), testSecret.InvitationToken(inv.ID), "the stored answer holds a token")
		}
		stored, first, err := s.SavePackage(ctx, rec)
		require.NoError(t, err)
		require.True(t, first)
		require.Equal(t, string(answer), string(stored.AnswerWithLinks(testSecret)), "the stored answer gives back the very links")

		// A resend (or a racing event) of the key keeps the first record.
		other, _ := record(t, "k1", "pkg-1", map[string]string{"r1": bob.ID})
		again, first, err := s.SavePackage(ctx, other)
		require.NoError(t, err)
		require.False(t, first)
		require.Equal(t, string(answer), string(again.AnswerWithLinks(testSecret)))
		require.Len(t, again.Invitations, 2)

		p, err := s.Authorize(ctx, "pkg-1", "r2", bob.ID)
		require.NoError(t, err)
		require.Equal(t, "k1", p.Key)
		for _, c := range []struct{ pkg, rcp, user string }{
			{"pkg-1", "r2", alice.ID}, // another user's recipient
			{"pkg-1", "r9", bob.ID},   // not a recipient
			{"pkg-9", "r2", bob.ID},   // unknown package
		} {
			_, err := s.Authorize(ctx, c.pkg, c.rcp, c.user)
			require.ErrorIs(t, err, ErrNotFound, "%+v", c)
		}
		// The same packageId in another loan: each user still finds their own; one user
		// invited as the same recipient in both cannot be told which.
		rec2, _ := record(t, "k2", "pkg-1", map[string]string{"r1": bob.ID, "r2": bob.ID})
		_, _, err = s.SavePackage(ctx, rec2)
		require.NoError(t, err)
		p, err = s.Authorize(ctx, "pkg-1", "r1", alice.ID)
		require.NoError(t, err)
		require.Equal(t, "k1", p.Key)
		_, err = s.Authorize(ctx, "pkg-1", "r2", bob.ID)
		require.ErrorIs(t, err, ErrAmbiguous)

		require.NoError(t, s.Bind(ctx, "k1", "r1", alice.ID))
		list, err := s.UserPackages(ctx, alice.ID)
		require.NoError(t, err)
		require.Len(t, list, 1)
		require.Equal(t, UserPackage{PackageID: "pkg-1", RecipientID: "r1", Role: "borrower", Invited: list[0].Invited, Opened: true}, list[0])
		list, err = s.UserPackages(ctx, bob.ID)
		require.NoError(t, err)
		require.Len(t, list, 3)
		for _, p := range list {
			require.False(t, p.Opened)
		}
	})
}
