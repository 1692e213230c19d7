package demo

import (
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/cutover/cutover/internal/pgcluster"
)

// databases are the demo's two throwaway clusters: the VM's PostgreSQL and
// a stand-in for RDS (with a rehearsal database).
type databases struct{ src, dst *pgcluster.Cluster }

func startDatabases(dir string, out io.Writer) (*databases, error) {
	if pgcluster.Bin() == "" {
		fmt.Fprintf(out, "== database part skipped: install PostgreSQL to include it (apt-get install postgresql)\n")
		return nil, nil
	}
	fmt.Fprintf(out, "== two throwaway PostgreSQL clusters: the VM's database (pgbench data and a Jira-like issue table) and the RDS stand-in\n")
	src, err := pgcluster.Start(filepath.Join(dir, "pg-vm"), pgcluster.Options{})
	if err != nil {
		return nil, err
	}
	dst, err := pgcluster.Start(filepath.Join(dir, "pg-rds"), pgcluster.Options{})
	if err != nil {
		src.Stop()
		return nil, err
	}
	d := &databases{src: src, dst: dst}
	steps := []func() error{
		func() error { _, err := src.Psql("postgres", "CREATE DATABASE jiradb"); return err },
		func() error { return src.Pgbench("jiradb", 2) },
		func() error {
			_, err := src.Psql("jiradb", `CREATE TABLE jiraissue (id numeric(18,0) PRIMARY KEY, pkey varchar(255), summary text, created timestamptz);
INSERT INTO jiraissue SELECT 10000 + i, 'DEMO-' || i, 'issue ' || i, now() - i * interval '1 hour' FROM generate_series(1, 5000) i`)
			return err
		},
		func() error { _, err := dst.Psql("postgres", "CREATE DATABASE jiradb"); return err },
		func() error { _, err := dst.Psql("postgres", "CREATE DATABASE rehearsal"); return err },
	}
	for _, s := range steps {
		if err := s(); err != nil {
			d.stop()
			return nil, err
		}
	}
	return d, nil
}

func (d *databases) stop() {
	d.src.Stop()
	d.dst.Stop()
}

func (d *databases) mutate() error {
	_, err := d.src.Psql("jiradb", `UPDATE pgbench_accounts SET abalance = abalance + 1 WHERE aid <= 500;
INSERT INTO jiraissue SELECT 20000 + i, 'DEMO-NEW-' || i, 'new issue', now() FROM generate_series(1, 100) i;
DELETE FROM jiraissue WHERE id <= 10050`)
	return err
}

// findLucene returns the class path of Debian's Lucene 8 jars and java, or "".
func findLucene() string {
	if _, err := exec.LookPath("java"); err != nil {
		return ""
	}
	var jars []string
	for _, j := range []string{"core", "demo", "analyzers-common", "queryparser"} {
		m, _ := filepath.Glob("/usr/share/java/lucene-" + j + "-8*.jar")
		if len(m) == 0 {
			return ""
		}
		jars = append(jars, m[0])
	}
	return strings.Join(jars, ":")
}

// indexDocs writes documents and indexes them with Lucene's IndexFiles
// into node 0's issues index (round 1 re-indexes some: a new segment and
// deletions).
func indexDocs(cp, dir string, round int) error {
	docs := filepath.Join(dir, "docs", fmt.Sprint(round))
	n := 400
	if round > 0 {
		docs, n = filepath.Join(dir, "docs", "0", "a"), 20
	}
	if err := os.MkdirAll(docs, 0o755); err != nil {
		return err
	}
	for i := 0; i < n; i++ {
		text := fmt.Sprintf("DEMO-%d round %d jira issue comment worklog %s", i, round, strings.Repeat("lucene segment ", i%40))
		if err := os.WriteFile(filepath.Join(docs, fmt.Sprintf("doc-%04d.txt", i)), []byte(text), 0o644); err != nil {
			return err
		}
	}
	if round == 0 {
		if err := os.MkdirAll(filepath.Join(docs, "a"), 0o755); err != nil {
			return err
		}
		for i := 0; i < 20; i++ {
			os.WriteFile(filepath.Join(docs, "a", fmt.Sprintf("doc-%04d.txt", i)), []byte(fmt.Sprintf("sub %d", i)), 0o644)
		}
	}
	cmd := exec.Command("java", "-cp", cp, "org.apache.lucene.demo.IndexFiles", "-index", filepath.Join(dir, "node0", "indexesV1", "issues"), "-docs", docs, "-update")
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("Lucene IndexFiles: %w\n%s", err, out)
	}
	return nil
}
