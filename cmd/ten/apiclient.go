package main

import (
	"fmt"
	"os"

	"github.com/tenement/ten/runtime/client"
	"github.com/tenement/ten/runtime/config"
)

// apiClient returns a client for --server, authenticated with --token,
// else $TENEMENT_TOKEN, else the token `ten token-gen` saved in the data
// directory, the order tenement uses.
func (g *globals) apiClient() (*client.Client, error) {
	token := g.token
	if token == "" {
		dir, err := g.tokenDataDir()
		if err != nil {
			return nil, fmt.Errorf("no API token: pass --token or set TENEMENT_TOKEN (%v)", err)
		}
		if token, err = client.ReadToken(dir); err != nil {
			return nil, err
		}
	}
	return client.New(g.Server, token), nil
}

// tokenDataDir is where the saved token lives: --data-dir, else
// $TENEMENT_DATA_DIR, else the configuration's data_dir.
func (g *globals) tokenDataDir() (string, error) {
	if g.DataDir != "" {
		return g.DataDir, nil
	}
	if d := os.Getenv(config.EnvDataDir); d != "" {
		return d, nil
	}
	cfg, err := g.loadConfig()
	if err != nil {
		return "", err
	}
	return cfg.Settings.DataDir, nil
}
