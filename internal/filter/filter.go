// Package filter decides which paths of a tree a sync takes, from ordered
// --include and --exclude glob rules in the manner of rsync's filter rules:
// the first rule that matches wins, and a path no rule matches is included.
//
// Patterns: `*` matches within one path component, `**` across components,
// `?` one character, `[...]` a class. A pattern with a `/` is matched
// against the whole root-relative path (a leading `/` is allowed); one
// without is matched against the last component at any depth. A trailing `/`
// matches directories only. A path that no rule matches inherits the
// decision of its nearest ancestor that a rule matched, so `--exclude tmp`
// drops everything under tmp, while `--include 'caches/indexsnapshots/**'
// --exclude 'caches/**'` keeps the snapshots and drops the rest of caches.
// It does not read the filesystem.
package filter

import (
	"fmt"
	"path"
	"regexp"
	"strings"
)

// Rule is one --include or --exclude.
type Rule struct {
	Include bool
	Pattern string
	re      *regexp.Regexp
	dirOnly bool
	base    bool // match the last component only
}

// Filter is an ordered list of rules. The zero value includes everything.
type Filter struct{ rules []Rule }

// Add appends a rule.
func (f *Filter) Add(include bool, pattern string) error {
	r := Rule{Include: include, Pattern: pattern}
	p := pattern
	if strings.HasSuffix(p, "/") {
		r.dirOnly = true
		p = strings.TrimSuffix(p, "/")
	}
	if !strings.Contains(p, "/") {
		r.base = true
	}
	p = strings.TrimPrefix(p, "/")
	if p == "" {
		return fmt.Errorf("empty pattern %q", pattern)
	}
	re, err := compile(p)
	if err != nil {
		return fmt.Errorf("pattern %q: %w", pattern, err)
	}
	r.re = re
	f.rules = append(f.rules, r)
	return nil
}

// Empty reports whether f has no rules.
func (f *Filter) Empty() bool { return len(f.rules) == 0 }

func compile(glob string) (*regexp.Regexp, error) {
	var b strings.Builder
	b.WriteString("^")
	for i := 0; i < len(glob); i++ {
		c := glob[i]
		switch c {
		case '*':
			if i+1 < len(glob) && glob[i+1] == '*' {
				i++
				if i+1 < len(glob) && glob[i+1] == '/' {
					i++
					b.WriteString("(?:.*/)?") // "**/" also matches zero directories
				} else {
					b.WriteString(".*")
				}
			} else {
				b.WriteString("[^/]*")
			}
		case '?':
			b.WriteString("[^/]")
		case '[':
			j := strings.IndexByte(glob[i+1:], ']')
			if j < 0 {
				return nil, fmt.Errorf("unclosed [")
			}
			class := glob[i+1 : i+1+j]
			if strings.HasPrefix(class, "!") {
				class = "^" + class[1:]
			}
			b.WriteString("[" + strings.ReplaceAll(class, `\`, `\\`) + "]")
			i += j + 1
		case '\\':
			if i+1 < len(glob) {
				i++
				b.WriteString(regexp.QuoteMeta(string(glob[i])))
			}
		default:
			b.WriteString(regexp.QuoteMeta(string(c)))
		}
	}
	b.WriteString("$")
	return regexp.Compile("(?s)" + b.String())
}

// decide returns (included, matched) for p alone.
func (f *Filter) decide(p string, isDir bool) (bool, bool) {
	for i := range f.rules {
		r := &f.rules[i]
		if r.dirOnly && !isDir {
			continue
		}
		s := p
		if r.base {
			s = path.Base(p)
		}
		if r.re.MatchString(s) {
			return r.Include, true
		}
	}
	return true, false
}

// Included reports whether the sync takes path p (a directory when isDir).
func (f *Filter) Included(p string, isDir bool) bool {
	if len(f.rules) == 0 {
		return true
	}
	if inc, ok := f.decide(p, isDir); ok {
		return inc
	}
	for dir := path.Dir(p); dir != "." && dir != "/"; dir = path.Dir(dir) {
		if inc, ok := f.decide(dir, true); ok {
			return inc
		}
	}
	return true
}
