package workflows_test

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"go.temporal.io/api/enums/v1"
	"gopkg.in/yaml.v3"

	"github.com/epcflow/epcflow/workflows"
)

// TestDockerComposeRegistersTheSearchAttributes: the production layout registers on its
// Temporal server (service temporal-setup-attributes, a `temporal operator search-attribute
// create` per name) exactly the search attributes the workflows set, with their type.
func TestDockerComposeRegistersTheSearchAttributes(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join("..", "docker-compose.yml"))
	require.NoError(t, err)
	var compose struct {
		Services map[string]struct {
			Command []string `yaml:"command"`
		} `yaml:"services"`
	}
	require.NoError(t, yaml.Unmarshal(raw, &compose))
	setup, ok := compose.Services["temporal-setup-attributes"]
	require.True(t, ok, "docker-compose.yml: no temporal-setup-attributes service")
	script := strings.Join(setup.Command, "\n")

	loops := regexp.MustCompile(`for a in ([^;]+); do\s+temporal operator search-attribute create .*--name \$\$a --type (\w+)`).FindAllStringSubmatch(script, -1)
	require.NotEmpty(t, loops, "temporal-setup-attributes: no `for a in …; do temporal operator search-attribute create … --name $$a --type …` in %q", script)
	listed := map[string]string{}
	for _, loop := range loops {
		for _, name := range strings.Fields(loop[1]) {
			listed[name] = loop[2]
		}
	}
	types := map[enums.IndexedValueType]string{enums.INDEXED_VALUE_TYPE_KEYWORD: "Keyword", enums.INDEXED_VALUE_TYPE_DATETIME: "Datetime"}
	want := map[string]string{}
	for name, typ := range workflows.SearchAttributes() {
		require.Contains(t, types, typ, "%s: a type this test does not know", name)
		want[name] = types[typ]
	}
	require.Equal(t, want, listed, "docker-compose.yml's search attributes (name: type) differ from workflows.SearchAttributes()")
}

func TestCheckTransactionID(t *testing.T) {
	for _, tt := range []struct {
		name, id, wantErr string
	}{
		{"uuid", "0bf34a40-8ca1-4b58-8cbc-dd6b9f67dc63", ""},
		{"unicode letters", "tx-é-1", ""},
		{"at the limit", strings.Repeat("a", workflows.MaxTransactionIDBytes), ""},
		{"empty", "", "empty"},
		{"too long", strings.Repeat("a", workflows.MaxTransactionIDBytes+1), "901 bytes long"},
		{"NUL", "tx\x00", "control character (U+0000 at byte 2)"},
		{"newline", "tx\n1", "control character"},
		{"C1 control", "tx\u00851", "control character"},
		{"invalid UTF-8", "tx\xff", "not valid UTF-8"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			err := workflows.CheckTransactionID(tt.id)
			if tt.wantErr == "" {
				require.NoError(t, err)
				require.LessOrEqual(t, len(workflows.TransactionWorkflowID(tt.id)), 1000, "Temporal's limit on workflow ids")
				return
			}
			require.ErrorContains(t, err, tt.wantErr)
		})
	}
}
