package client

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/tenement/ten/internal/fsutil"
)

// TokenFile is the name of the admin token file in the data directory,
// beside tenement.db, where `ten token-gen` leaves it for the CLI.
const TokenFile = "api_token"

// TokenPath returns {dataDir}/api_token.
func TokenPath(dataDir string) string { return filepath.Join(dataDir, TokenFile) }

// ReadToken reads the token saved in dataDir.
func ReadToken(dataDir string) (string, error) {
	p := TokenPath(dataDir)
	b, err := os.ReadFile(p)
	if errors.Is(err, fs.ErrNotExist) {
		return "", fmt.Errorf("no API token: tried --token, TENEMENT_TOKEN and %s; run `ten token-gen` first", p)
	}
	if err != nil {
		return "", fmt.Errorf("read API token: %w", err)
	}
	tok := strings.TrimSpace(string(b))
	if tok == "" {
		return "", fmt.Errorf("API token file %s is empty; run `ten token-gen` to create a new token", p)
	}
	return tok, nil
}

// SaveToken writes token to {dataDir}/api_token with mode 0600. The file is
// replaced atomically (fsutil.WriteFile), so a reader never
// sees half a token and a crash never leaves an empty file.
func SaveToken(dataDir, token string) (string, error) {
	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		return "", fmt.Errorf("save API token: %w", err)
	}
	p := TokenPath(dataDir)
	if err := fsutil.WriteFile(p, []byte(token+"\n"), 0o600); err != nil {
		// A NotWritableError's advice is about ten-upgrade's installation;
		// for the token, the failed operation itself says enough.
		if nw, ok := errors.AsType[*fsutil.NotWritableError](err); ok {
			err = nw.Err
		}
		return "", fmt.Errorf("save API token: %w", err)
	}
	return p, nil
}
