// Package compat decides whether a candidate `ten` binary can replace the
// installed one. It never links the runtime to learn about a candidate: it
// asks the binary (`ten version --json`, `ten config --check --json`,
// `ten migrate --json`) and reads the answers, whose shapes are defined here
// so that both sides of the contract share one definition.
package compat

// VersionInfo is the output of `ten version --json`.
type VersionInfo struct {
	Version          string   `json:"version"`
	APIVersion       string   `json:"api_version"`
	SchemaVersion    int      `json:"schema_version"`     // newest schema this binary migrates to
	MinSchemaVersion int      `json:"min_schema_version"` // oldest schema it can migrate from
	CompatFloor      int      `json:"compat_floor"`       // oldest schema whose binaries still run on SchemaVersion
	Commit           string   `json:"commit"`
	GoVersion        string   `json:"go_version"`
	Platform         string   `json:"platform"` // GOOS/GOARCH
	Capabilities     []string `json:"capabilities"`
}

// Diagnostic is one finding of `ten config --check --json`.
type Diagnostic struct {
	Severity string `json:"severity"` // "error" or "warning"
	File     string `json:"file,omitempty"`
	Line     int    `json:"line,omitempty"`
	Key      string `json:"key,omitempty"`
	Message  string `json:"message"`
	Hint     string `json:"hint,omitempty"`
}

// ConfigReport is the output of `ten config --check --json`.
type ConfigReport struct {
	OK       bool         `json:"ok"`
	File     string       `json:"file,omitempty"`
	Errors   []Diagnostic `json:"errors"`
	Warnings []Diagnostic `json:"warnings"`
	// Effective is the configuration after aliases and defaults, as JSON.
	Effective any `json:"effective,omitempty"`
}

// AppliedMigration names one migration in a MigrateReport.
type AppliedMigration struct {
	Version int    `json:"version"`
	Name    string `json:"name"`
	Kind    string `json:"kind"` // "expand" or "contract"
}

// MigrateReport is the output of `ten migrate --json`.
type MigrateReport struct {
	Database string             `json:"database"`
	From     int                `json:"from"`
	To       int                `json:"to"`
	Floor    int                `json:"floor"` // compat floor of the database after migrating
	Applied  []AppliedMigration `json:"applied"`
	Stamped  bool               `json:"stamped"` // an unversioned tenement v0.2.x database was adopted
	DryRun   bool               `json:"dry_run"`
	Error    string             `json:"error,omitempty"`
}
