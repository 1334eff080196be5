package migrations

import (
	"bufio"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"regexp"
	"sort"
	"strconv"
	"strings"
)

// ApplicationID is stored in PRAGMA application_id of every database ten
// manages. It is "TENT" in ASCII. The value is permanent: changing it would
// make every existing database look foreign. Tenement v0.2.x left
// application_id at 0, which is how its databases are told apart from
// databases of unrelated programs (non-zero, different id).
const ApplicationID = 0x54454E54

// Kind classifies a migration by what it does to binaries older than it.
type Kind string

const (
	// KindExpand marks a migration after which older binaries still work.
	KindExpand Kind = "expand"
	// KindContract marks a migration that breaks binaries older than it.
	KindContract Kind = "contract"
)

func (k Kind) valid() bool { return k == KindExpand || k == KindContract }

// Migration is one schema step. Version is the schema version it produces.
type Migration struct {
	Version  int
	Name     string
	Kind     Kind
	SQL      string
	Checksum string // hex SHA-256 of SQL, recorded in the database when applied
}

// File returns the name the migration was loaded from, e.g. 0002_multi_server.sql.
func (m Migration) File() string { return fmt.Sprintf("%04d_%s.sql", m.Version, m.Name) }

const markerPrefix = "-- ten:migration"

var fileRE = regexp.MustCompile(`^([0-9]{4})_([a-z0-9][a-z0-9_]*)\.sql$`)

// Parse builds a Migration from a file name (NNNN_name.sql) and its
// contents, which must start with the marker line.
func Parse(name string, content []byte) (Migration, error) {
	sub := fileRE.FindStringSubmatch(name)
	if sub == nil {
		return Migration{}, fmt.Errorf("migration %s: file name must be NNNN_name.sql (lower case, digits, underscores)", name)
	}
	version, _ := strconv.Atoi(sub[1]) // four digits: cannot fail
	if version < 1 {
		return Migration{}, fmt.Errorf("migration %s: version must be >= 1", name)
	}
	kind, err := parseMarker(content)
	if err != nil {
		return Migration{}, fmt.Errorf("migration %s: %w", name, err)
	}
	sql := string(content)
	if kind == KindExpand {
		if bad := contractingStatement(sql); bad != "" {
			return Migration{}, fmt.Errorf("migration %s: marked expand but contains %q; mark it kind=contract", name, bad)
		}
	}
	sum := sha256.Sum256(content)
	return Migration{
		Version:  version,
		Name:     sub[2],
		Kind:     kind,
		SQL:      sql,
		Checksum: hex.EncodeToString(sum[:]),
	}, nil
}

// parseMarker reads the first line, "-- ten:migration kind=expand". Other
// key=value fields are rejected rather than ignored so that a typo cannot
// silently drop meaning a later binary would rely on.
func parseMarker(content []byte) (Kind, error) {
	first, _, _ := strings.Cut(string(content), "\n")
	first = strings.TrimRight(first, " \t\r")
	rest, ok := strings.CutPrefix(first, markerPrefix)
	if !ok || (rest != "" && rest[0] != ' ' && rest[0] != '\t') {
		return "", fmt.Errorf("first line must be %q, got %q", markerPrefix+" kind=expand|contract", first)
	}
	var kind Kind
	for _, field := range strings.Fields(rest) {
		key, value, ok := strings.Cut(field, "=")
		switch {
		case !ok:
			return "", fmt.Errorf("marker field %q is not key=value", field)
		case key != "kind":
			return "", fmt.Errorf("marker field %q is unknown", key)
		case kind != "":
			return "", errors.New("marker repeats kind")
		}
		kind = Kind(value)
		if !kind.valid() {
			return "", fmt.Errorf("marker kind %q is neither %q nor %q", value, KindExpand, KindContract)
		}
	}
	if kind == "" {
		return "", errors.New("marker has no kind=")
	}
	return kind, nil
}

// contractRE matches statements that are never compatible with older
// binaries. It is a guard against mislabelling, not a proof of safety: an
// expand migration can still break old code in ways a pattern cannot see.
var contractRE = regexp.MustCompile(`(?i)\b(DROP\s+TABLE|DROP\s+COLUMN|DROP\s+VIEW|RENAME\s+(TO|COLUMN)|RENAME\s+[a-z_"]\w*\s+TO)\b`)

// contractingStatement returns the first contracting statement in sql,
// ignoring "--" comment lines so that prose may mention them.
func contractingStatement(sql string) string {
	sc := bufio.NewScanner(strings.NewReader(sql))
	sc.Buffer(make([]byte, 0, 64*1024), len(sql)+1)
	for sc.Scan() {
		line := sc.Text()
		if code, _, _ := strings.Cut(line, "--"); code != "" {
			if m := contractRE.FindString(code); m != "" {
				return m
			}
		}
	}
	return ""
}

// Load parses every *.sql file at the root of fsys and returns them
// validated and sorted by version.
func Load(fsys fs.FS) ([]Migration, error) {
	names, err := fs.Glob(fsys, "*.sql")
	if err != nil {
		return nil, fmt.Errorf("list migrations: %w", err)
	}
	set := make([]Migration, 0, len(names))
	for _, name := range names {
		b, err := fs.ReadFile(fsys, name)
		if err != nil {
			return nil, fmt.Errorf("read migration %s: %w", name, err)
		}
		m, err := Parse(path.Base(name), b)
		if err != nil {
			return nil, err
		}
		set = append(set, m)
	}
	sort.Slice(set, func(i, j int) bool { return set[i].Version < set[j].Version })
	return set, nil
}

// Validate reports whether set is usable by Apply: non-empty, sorted, and
// numbered 1, 2, 3, ... without gaps or duplicates. A gap would make
// user_version ambiguous; a duplicate would make the set depend on file
// order.
func Validate(set []Migration) error {
	if len(set) == 0 {
		return errors.New("migration set is empty")
	}
	for i, m := range set {
		if m.Version != i+1 {
			if i > 0 && m.Version == set[i-1].Version {
				return fmt.Errorf("migration version %d defined twice (%s, %s)", m.Version, set[i-1].File(), m.File())
			}
			return fmt.Errorf("migration %s: expected version %d (versions must be 1, 2, 3, ... with no gaps)", m.File(), i+1)
		}
		if !m.Kind.valid() {
			return fmt.Errorf("migration %s: invalid kind %q", m.File(), m.Kind)
		}
	}
	return nil
}

// Floor returns the compatibility floor of schema version: the newest
// contract migration in set at or below version, and at least 1 because the
// baseline 0001 is known to every ten binary. Version 0 (no schema) has
// floor 0. Kinds other than expand are treated as contract, so that a
// database written by a future binary with a kind this one does not know
// errs on the side of refusing.
func Floor(set []Migration, version int) int {
	if version <= 0 {
		return 0
	}
	floor := 1
	for _, m := range set {
		if m.Version <= version && m.Kind != KindExpand && m.Version > floor {
			floor = m.Version
		}
	}
	return floor
}
