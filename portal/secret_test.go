package portal

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestSecret(t *testing.T) {
	_, err := NewSecret("short")
	require.ErrorContains(t, err, "at least 32")
	_, err = ParseSecret(" , ")
	require.ErrorContains(t, err, "empty")
	s, err := ParseSecret(strings.Repeat("a", 32) + ", " + strings.Repeat("b", 40))
	require.NoError(t, err)
	require.Len(t, s.keys, 2)

	id := NewInvitationID()
	tok := s.InvitationToken(id)
	require.Equal(t, tok, s.InvitationToken(id), "derived, not random")
	require.True(t, strings.HasPrefix(tok, "pi_"+id+"."))
	got, ok := s.invitationID(tok)
	require.True(t, ok)
	require.Equal(t, id, got)
	require.NotEqual(t, tok, s.InvitationToken(NewInvitationID()))

	for _, shown := range []string{s.String(), s.GoString()} {
		require.NotContains(t, shown, strings.Repeat("a", 32))
	}
}

func TestSecretFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "data", "portal-secret")
	s, err := LoadOrCreateSecretFile(path)
	require.NoError(t, err)
	st, err := os.Stat(path)
	require.NoError(t, err)
	require.Equal(t, os.FileMode(0o600), st.Mode().Perm())
	again, err := LoadOrCreateSecretFile(path)
	require.NoError(t, err)
	id := NewInvitationID()
	require.Equal(t, s.InvitationToken(id), again.InvitationToken(id), "the same secret at the next start")

	require.NoError(t, os.Chmod(path, 0o644))
	_, err = LoadOrCreateSecretFile(path)
	require.ErrorContains(t, err, "chmod 600")
	require.NoError(t, os.Chmod(path, 0o600))
	require.NoError(t, os.WriteFile(path, []byte("# a comment\nshort\n"), 0o600))
	_, err = LoadOrCreateSecretFile(path)
	require.ErrorContains(t, err, "at least 32")
}
