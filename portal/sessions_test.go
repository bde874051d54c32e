package portal

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestSignInAndSessions(t *testing.T) {
	onEachBackend(t, func(t *testing.T, s *Store) {
		ctx := context.Background()
		u := mustUser(t, s, "ann@example.com")
		rec, _ := record(t, "k1", "pkg-1", map[string]string{"r1": u.ID})
		_, _, err := s.SavePackage(ctx, rec)
		require.NoError(t, err)
		invite := testSecret.InvitationToken(rec.Invitations[0].ID)

		got, err := s.SignIn(ctx, testSecret, invite)
		require.NoError(t, err)
		require.Equal(t, u.ID, got.ID)
		rotated, err := NewSecret(strings.Repeat("n", 32), "0123456789abcdef0123456789abcdef")
		require.NoError(t, err)
		_, err = s.SignIn(ctx, rotated, invite)
		require.NoError(t, err, "an old value still verifies after a rotation")
		require.NotEqual(t, invite, rotated.InvitationToken(rec.Invitations[0].ID))

		another, err := NewSecret(strings.Repeat("x", 32))
		require.NoError(t, err)
		last := "A"
		if strings.HasSuffix(invite, last) {
			last = "B"
		}
		for _, bad := range []string{
			invite[:len(invite)-1] + last, another.InvitationToken(rec.Invitations[0].ID),
			testSecret.InvitationToken(NewInvitationID()), "pi_", "pi_x.y", "pt_unknown", "", "ps_x", invite + ".",
		} {
			_, err := s.SignIn(ctx, testSecret, bad)
			require.ErrorIs(t, err, ErrNotFound, bad)
		}

		link, err := s.IssueToken(ctx, u.ID, time.Hour)
		require.NoError(t, err)
		got, err = s.SignIn(ctx, testSecret, link)
		require.NoError(t, err)
		require.Equal(t, u.ID, got.ID)

		sess, expires, err := s.CreateSession(ctx, u.ID, time.Hour)
		require.NoError(t, err)
		require.WithinDuration(t, time.Now().Add(time.Hour), expires, time.Minute)
		got, err = s.UserBySession(ctx, sess)
		require.NoError(t, err)
		require.Equal(t, u.ID, got.ID)
		for _, notSession := range []string{invite, link, sess + "x", ""} {
			_, err = s.UserBySession(ctx, notSession)
			require.ErrorIs(t, err, ErrNotFound, "a sign-in link is no session")
		}

		// Later: the session, the sign-in link and the invitation have ended.
		s.now = func() time.Time { return time.Now().Add(2 * time.Hour) }
		for _, f := range []func() error{
			func() error { _, err := s.UserBySession(ctx, sess); return err },
			func() error { _, err := s.SignIn(ctx, testSecret, link); return err },
			func() error { _, err := s.SignIn(ctx, testSecret, invite); return err },
		} {
			require.ErrorIs(t, f(), ErrNotFound)
		}
		s.now = time.Now

		sess2, _, err := s.CreateSession(ctx, u.ID, time.Hour)
		require.NoError(t, err)
		require.NoError(t, s.EndSession(ctx, sess2))
		_, err = s.UserBySession(ctx, sess2)
		require.ErrorIs(t, err, ErrNotFound, "signed out")
	})
}

func TestRevokeUser(t *testing.T) {
	onEachBackend(t, func(t *testing.T, s *Store) {
		ctx := context.Background()
		ann := mustUser(t, s, "ann@example.com")
		ben := mustUser(t, s, "ben@example.com")
		rec, _ := record(t, "k1", "pkg-1", map[string]string{"r1": ann.ID, "r2": ben.ID})
		_, _, err := s.SavePackage(ctx, rec)
		require.NoError(t, err)
		annInvite, benInvite := testSecret.InvitationToken(rec.Invitations[0].ID), testSecret.InvitationToken(rec.Invitations[1].ID)
		if rec.Invitations[0].UserID != ann.ID {
			annInvite, benInvite = benInvite, annInvite
		}
		link, err := s.IssueToken(ctx, ann.ID, time.Hour)
		require.NoError(t, err)
		var sessions []string
		for range 2 {
			tok, _, err := s.CreateSession(ctx, ann.ID, time.Hour)
			require.NoError(t, err)
			sessions = append(sessions, tok)
		}
		benSession, _, err := s.CreateSession(ctx, ben.ID, time.Hour)
		require.NoError(t, err)

		u, r, err := s.RevokeUser(ctx, " ANN@example.com")
		require.NoError(t, err)
		require.Equal(t, ann.ID, u.ID)
		require.Equal(t, Revoked{Sessions: 2, Invitations: 1, SignInLinks: 1}, r)
		for _, tok := range sessions {
			_, err := s.UserBySession(ctx, tok)
			require.ErrorIs(t, err, ErrNotFound)
		}
		for _, tok := range []string{annInvite, link} {
			_, err := s.SignIn(ctx, testSecret, tok)
			require.ErrorIs(t, err, ErrNotFound)
		}
		// What Ann may open is unchanged: a new sign-in link lets her in again.
		_, err = s.Authorize(ctx, "pkg-1", "r1", ann.ID)
		require.NoError(t, err)
		// Ben is untouched.
		_, err = s.UserBySession(ctx, benSession)
		require.NoError(t, err)
		_, err = s.SignIn(ctx, testSecret, benInvite)
		require.NoError(t, err)

		_, r, err = s.RevokeUser(ctx, "ann@example.com")
		require.NoError(t, err)
		require.Equal(t, Revoked{}, r, "revoking again finds nothing left")
		_, _, err = s.RevokeUser(ctx, "nobody@example.com")
		require.ErrorIs(t, err, ErrNotFound)
	})
}
