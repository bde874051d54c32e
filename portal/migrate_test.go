package portal

import (
	"context"
	"encoding/json"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// legacyVersion is the last migration of the schema whose stored answers held sign-in tokens
// in clear.
const legacyVersion = 6

// TestLegacyAnswersBecomeInvitations: a database written before invitations (answers holding
// each recipient's token in clear) is migrated: no token is left in the answers, each
// recipient is invited for the user its token named, a resend answers the invitation's link,
// and the old link still signs in until it expires.
func TestLegacyAnswersBecomeInvitations(t *testing.T) {
	for name, fresh := range databases(t) {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			dsn := fresh(t)
			old, err := open(ctx, dsn)
			require.NoError(t, err)
			require.NoError(t, old.migrate(ctx, legacyVersion))
			ann, _, err := old.ResolveUser(ctx, "ann@example.com", "", "")
			require.NoError(t, err)
			tok, err := old.IssueToken(ctx, ann.ID, time.Hour)
			require.NoError(t, err)
			const missing = "pt_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA" // its row never written
			link := func(tok string) string { return "https://p.example/portal/signin?next=%2Fportal%2F&token=" + tok }
			answer, err := json.Marshal(map[string]any{"recipients": []map[string]string{
				{"recipientId": "r1", "emailHtml": `<a href="` + link(tok) + `">Open</a>`, "portalUrl": link(tok)},
				{"recipientId": "r2", "emailHtml": `<a href="` + link(missing) + `">Open</a>`, "portalUrl": link(missing)},
			}})
			require.NoError(t, err)
			_, err = old.db.ExecContext(ctx, old.db.Q(`INSERT INTO portal_packages (package_key, package_id, instance_id, group_namespace, group_id, recipient_ids, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)`),
				"k1", "pkg-1", "i", "loans", "g", `["r1","r2"]`, time.Now().UTC())
			require.NoError(t, err)
			_, err = old.db.ExecContext(ctx, old.db.Q(`INSERT INTO package_answers (package_key, answer, created_at) VALUES (?, ?, ?)`), "k1", string(answer), time.Now().UTC())
			require.NoError(t, err)
			require.NoError(t, old.Close())

			s, err := Open(ctx, dsn)
			require.NoError(t, err)
			defer s.Close()
			rec, err := s.PackageRecord(ctx, "k1")
			require.NoError(t, err)
			require.NotContains(t, string(rec.Answer), tok)
			require.NotContains(t, string(rec.Answer), missing)
			require.Len(t, rec.Invitations, 1)
			inv := rec.Invitations[0]
			require.Equal(t, "r1", inv.RecipientID)
			require.Equal(t, ann.ID, inv.UserID)

			var resent struct {
				Recipients []struct{ PortalURL string } `json:"recipients"`
			}
			require.NoError(t, json.Unmarshal(rec.AnswerWithLinks(testSecret), &resent))
			u, err := url.Parse(resent.Recipients[0].PortalURL)
			require.NoError(t, err)
			require.Equal(t, testSecret.InvitationToken(inv.ID), u.Query().Get("token"))
			require.True(t, strings.HasSuffix(resent.Recipients[1].PortalURL, "token=revoked"), resent.Recipients[1].PortalURL)

			for _, signIn := range []string{tok, testSecret.InvitationToken(inv.ID)} {
				got, err := s.SignIn(ctx, testSecret, signIn)
				require.NoError(t, err)
				require.Equal(t, ann.ID, got.ID)
			}
			_, err = s.Authorize(ctx, "pkg-1", "r1", ann.ID)
			require.NoError(t, err)
		})
	}
}
