package config

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/cutover/cutover/internal/errs"
	"github.com/cutover/cutover/internal/progress"
	"github.com/cutover/cutover/internal/store"
)

// Config is a parsed cutover.yaml. The key names are a contract.
type Config struct {
	State        string     `yaml:"state"`
	Workers      int        `yaml:"workers"`
	Jobs         int        `yaml:"jobs"`
	MaxDelete    int        `yaml:"max_delete"`
	Verify       string     `yaml:"verify"`
	VerifySample float64    `yaml:"verify_sample"` // final: also compare this fraction of all files (with verify: transferred)
	QuietMinutes float64    `yaml:"quiet_minutes"`
	Files        []FileSet  `yaml:"files"`
	Databases    []Database `yaml:"databases"`
	Indexes      []IndexSet `yaml:"indexes"`

	Path string `yaml:"-"` // the file it was read from
	Dir  string `yaml:"-"` // its directory: relative paths start here
}

// FileSet is one tree to copy (a shared home).
type FileSet struct {
	Name     string         `yaml:"name"`
	Source   string         `yaml:"source"`
	Target   string         `yaml:"target"`
	Exclude  []string       `yaml:"exclude"`
	Include  []string       `yaml:"include"`
	ChownMap map[string]int `yaml:"chown_map"`
	ChgrpMap map[string]int `yaml:"chgrp_map"`
	// RehearsalBWLimit caps the read rate from the source during presync
	// (the application runs on that VM): "50MB" a second. The final is
	// never capped.
	RehearsalBWLimit string `yaml:"rehearsal_bwlimit"`
	RehearsalRate    int64  `yaml:"-"` // RehearsalBWLimit in bytes a second (0: none)
	// RehearsalLowPriority runs presync's commands on the source host (find,
	// tar, hashing) and their SSH session at nice 19 and the lowest
	// best-effort I/O priority (store.SSHOptions.LowPriority).
	RehearsalLowPriority bool `yaml:"rehearsal_low_priority"`
	SSH                  `yaml:",inline"`
	line                 int
}

// SSH is how a file or index set reaches an SFTP host.
type SSH struct {
	SSHKey     string `yaml:"ssh_key"`
	KnownHosts string `yaml:"known_hosts"`
	// SSHPasswordFile: the password on its first line, tried after the keys.
	SSHPasswordFile string `yaml:"ssh_password_file"`
	// SSHJump: a host to connect through, "[user@]host[:port]" (ssh -J).
	SSHJump string `yaml:"ssh_jump"`
}

// jumpOK says ssh_jump is empty or what store.ParseJump, which dials it,
// accepts.
func (s *SSH) jumpOK() bool {
	if s.SSHJump == "" {
		return true
	}
	_, err := store.ParseJump(s.SSHJump)
	return err == nil
}

// rel resolves the files' paths from the config's directory.
func (s *SSH) rel(c *Config) {
	s.SSHKey, s.KnownHosts, s.SSHPasswordFile = c.Rel(s.SSHKey), c.Rel(s.KnownHosts), c.Rel(s.SSHPasswordFile)
}

// Database is one database to copy.
type Database struct {
	Name            string `yaml:"name"`
	Source          string `yaml:"source"`
	Target          string `yaml:"target"`
	RehearsalTarget string `yaml:"rehearsal_target"`
	AWSIAMAuth      bool   `yaml:"aws_iam_auth"`
	AWSRegion       string `yaml:"aws_region"`
	TargetOwner     string `yaml:"target_owner"`
	SplitLargerThan string `yaml:"split_larger_than"`
	CopyFormat      string `yaml:"copy_format"`
	line            int
}

// IndexSet is one node's index directory and the healthy node to ship from.
type IndexSet struct {
	Name   string `yaml:"name"`
	Source string `yaml:"source"`
	Target string `yaml:"target"`
	// RehearsalLowPriority: presync's commands on the healthy node, which
	// serves users, run at the lowest priority (as a file set's).
	RehearsalLowPriority bool `yaml:"rehearsal_low_priority"`
	SSH                  `yaml:",inline"`
	line                 int
}

var envRef = regexp.MustCompile(`\$\{([A-Za-z_][A-Za-z0-9_]*)\}`)

// Load reads and checks a config file.
func Load(path string) (*Config, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, errs.Usagef("config: %w", err)
	}
	return Parse(path, raw)
}

// Parse checks config text read from path.
func Parse(path string, raw []byte) (*Config, error) {
	// ${VAR} first, line by line, so a missing variable names its line.
	var missing []string
	lines := strings.Split(string(raw), "\n")
	for i, l := range lines {
		if strings.HasPrefix(strings.TrimSpace(l), "#") {
			continue // a comment may mention ${VAR}
		}
		lines[i] = envRef.ReplaceAllStringFunc(l, func(m string) string {
			name := envRef.FindStringSubmatch(m)[1]
			v, ok := os.LookupEnv(name)
			if !ok {
				missing = append(missing, fmt.Sprintf("%s:%d: ${%s} is not set in the environment", path, i+1, name))
			}
			return v
		})
	}
	if len(missing) > 0 {
		return nil, errs.Usagef("config: %s", strings.Join(missing, "; "))
	}
	text := []byte(strings.Join(lines, "\n"))
	var root yaml.Node
	if err := yaml.Unmarshal(text, &root); err != nil {
		return nil, errs.Usagef("config: %s: %s", path, yamlErr(err))
	}
	dec := yaml.NewDecoder(bytes.NewReader(text))
	dec.KnownFields(true)
	c := &Config{State: "./.cutover", Workers: 16, Jobs: 4, MaxDelete: 1000, Verify: "transferred", QuietMinutes: 10}
	if err := dec.Decode(c); err != nil && !errors.Is(err, errEOF(err)) {
		return nil, errs.Usagef("config: %s: %s", path, yamlErr(err))
	}
	abs, _ := filepath.Abs(path)
	c.Path, c.Dir = abs, filepath.Dir(abs)
	recordLines(&root, c)
	if err := c.check(); err != nil {
		return nil, err
	}
	c.State = c.Rel(c.State)
	return c, nil
}

// errEOF lets an empty file through as all defaults.
func errEOF(err error) error {
	if err != nil && err.Error() == "EOF" {
		return err
	}
	return errors.New("not EOF")
}

func yamlErr(err error) string {
	return strings.TrimPrefix(strings.TrimPrefix(err.Error(), "yaml: "), "unmarshal errors:\n  ")
}

// recordLines remembers the line of each list item, for later messages.
func recordLines(root *yaml.Node, c *Config) {
	if len(root.Content) == 0 {
		return
	}
	m := root.Content[0]
	for i := 0; i+1 < len(m.Content); i += 2 {
		items := m.Content[i+1].Content
		switch m.Content[i].Value {
		case "files":
			for j := range c.Files {
				if j < len(items) {
					c.Files[j].line = items[j].Line
				}
			}
		case "databases":
			for j := range c.Databases {
				if j < len(items) {
					c.Databases[j].line = items[j].Line
				}
			}
		case "indexes":
			for j := range c.Indexes {
				if j < len(items) {
					c.Indexes[j].line = items[j].Line
				}
			}
		}
	}
}

// Rel makes a path from the file absolute (relative to its directory);
// URLs and absolute paths are kept, "~/" is the home directory.
func (c *Config) Rel(p string) string {
	switch {
	case p == "" || strings.Contains(p, "://") || filepath.IsAbs(p):
		return p
	case strings.HasPrefix(p, "~/"):
		home, _ := os.UserHomeDir()
		return filepath.Join(home, p[2:])
	}
	return filepath.Join(c.Dir, p)
}

func (c *Config) check() error {
	var bad []string
	at := func(line int, format string, a ...any) {
		bad = append(bad, fmt.Sprintf("%s:%d: %s", c.Path, line, fmt.Sprintf(format, a...)))
	}
	if c.Workers < 1 {
		at(0, "workers must be ≥ 1")
	}
	if c.Jobs < 1 {
		at(0, "jobs must be ≥ 1")
	}
	if c.MaxDelete < 0 {
		at(0, "max_delete must be ≥ 0")
	}
	switch c.Verify {
	case "none", "transferred", "all":
	default:
		at(0, "verify: %q, want none, transferred or all", c.Verify)
	}
	if c.VerifySample < 0 || c.VerifySample > 1 {
		at(0, "verify_sample: %g, want a fraction between 0 and 1", c.VerifySample)
	}
	names := map[string]int{}
	unique := func(line int, kind, name string) {
		if name == "" {
			at(line, "%s: name is required", kind)
		} else if prev, ok := names[name]; ok {
			at(line, "%s %q: the name is already used on line %d", kind, name, prev)
		} else {
			names[name] = line
		}
	}
	for i := range c.Files {
		f := &c.Files[i]
		unique(f.line, "files", f.Name)
		if f.Source == "" || f.Target == "" {
			at(f.line, "files %q: source and target are required", f.Name)
		}
		for k, v := range f.ChownMap {
			if _, err := strconv.ParseUint(k, 10, 32); err != nil || v < 0 || v > math.MaxUint32 {
				at(f.line, "files %q: chown_map %s: %d is not a pair of numeric uids (0 to 4294967295)", f.Name, k, v)
			}
		}
		for k, v := range f.ChgrpMap {
			if _, err := strconv.ParseUint(k, 10, 32); err != nil || v < 0 || v > math.MaxUint32 {
				at(f.line, "files %q: chgrp_map %s: %d is not a pair of numeric gids (0 to 4294967295)", f.Name, k, v)
			}
		}
		if n, err := progress.ParseRate(f.RehearsalBWLimit); err != nil {
			at(f.line, "files %q: rehearsal_bwlimit: %v", f.Name, err)
		} else {
			f.RehearsalRate = n
		}
		f.Source, f.Target = c.Rel(f.Source), c.Rel(f.Target)
		if !f.SSH.jumpOK() {
			at(f.line, "files %q: ssh_jump %q, want [user@]host[:port]", f.Name, f.SSHJump)
		}
		f.SSH.rel(c)
	}
	for i := range c.Databases {
		d := &c.Databases[i]
		unique(d.line, "databases", d.Name)
		if d.Source == "" || d.Target == "" {
			at(d.line, "databases %q: source and target are required", d.Name)
		}
		for _, dsn := range []string{d.Source, d.Target, d.RehearsalTarget} {
			if dsn != "" && !strings.HasPrefix(dsn, "postgres://") && !strings.HasPrefix(dsn, "postgresql://") && !strings.Contains(dsn, "=") {
				at(d.line, "databases %q: %q is not a PostgreSQL DSN", d.Name, dsn)
			}
		}
		if d.CopyFormat != "" && d.CopyFormat != "text" && d.CopyFormat != "binary" {
			at(d.line, "databases %q: copy_format %q, want text or binary", d.Name, d.CopyFormat)
		}
	}
	for i := range c.Indexes {
		x := &c.Indexes[i]
		unique(x.line, "indexes", x.Name)
		if x.Source == "" || x.Target == "" {
			at(x.line, "indexes %q: source and target are required", x.Name)
		}
		x.Source, x.Target = c.Rel(x.Source), c.Rel(x.Target)
		if !x.SSH.jumpOK() {
			at(x.line, "indexes %q: ssh_jump %q, want [user@]host[:port]", x.Name, x.SSHJump)
		}
		x.SSH.rel(c)
	}
	if len(c.Files)+len(c.Databases)+len(c.Indexes) == 0 {
		at(0, "nothing to do: no files, databases or indexes")
	}
	if len(bad) > 0 {
		return errs.Usagef("config: %s", strings.ReplaceAll(strings.Join(bad, "; "), ":0: ", ": "))
	}
	return nil
}

// IDMap converts a chown_map/chgrp_map to numbers (checked by Load).
func IDMap(m map[string]int) map[int]int {
	out := map[int]int{}
	for k, v := range m {
		n, _ := strconv.Atoi(k)
		out[n] = v
	}
	return out
}
