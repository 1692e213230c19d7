package config

import (
	"fmt"
	"strings"
)

// Products are the products Template knows.
var Products = []string{"jira", "confluence", "bitbucket"}

type product struct {
	local, shared, db, indexes string
	excludes                   []string
	why                        string
}

var products = map[string]product{
	"jira": {
		shared: "/var/atlassian/application-data/jira/shared", local: "/var/atlassian/application-data/jira",
		db: "jiradb", indexes: "caches/indexesV1",
		excludes: []string{"tmp/**", "log/**", "export/**", "import/**", "caches/**", "!caches/indexesV1/**"},
		why:      "tmp, log, export and import are scratch; caches/ is rebuilt, except the index snapshots Jira shares there",
	},
	"confluence": {
		shared: "/var/atlassian/application-data/confluence/shared-home", local: "/var/atlassian/application-data/confluence",
		db: "confluence", indexes: "index",
		excludes: []string{"temp/**", "logs/**", "backups/**", "thumbnails/**"},
		why:      "temp and logs are scratch; backups are large and not needed in the cluster; thumbnails are regenerated",
	},
	"bitbucket": {
		shared: "/var/atlassian/application-data/bitbucket/shared", local: "/var/atlassian/application-data/bitbucket",
		db: "bitbucket", indexes: "",
		excludes: []string{"tmp/**", "log/**", "caches/**", "export/**"},
		why:      "tmp, log and export are scratch; caches are rebuilt (search runs in OpenSearch, not in a local index)",
	},
}

// Template returns a commented cutover.yaml for product.
func Template(name string) (string, error) {
	p, ok := products[name]
	if !ok {
		return "", fmt.Errorf("unknown product %q (want %s)", name, strings.Join(Products, ", "))
	}
	var b strings.Builder
	fmt.Fprintf(&b, `# cutover.yaml for %[1]s: one file for the whole installation.
# Relative paths are relative to this file's directory; ${VAR} is replaced by
# the environment variable VAR (keep secrets out of this file).

state: ./.cutover          # state directory: manifests, runs, checksums, throughput history
workers: 16                # parallel file transfers and index ships
jobs: 4                    # database workers (tables, chunks, indexes, checksums)
max_delete: 1000           # the final mirror stops (nothing deleted) above this many deletions; 'cutover plan' says how many are pending
verify: transferred        # files: none | transferred (read back what was written) | all (every recorded file)
verify_sample: 0.02        # final, with verify: transferred: also compare the content of 2%% of all files
quiet_minutes: 10          # final's preflight: no shared-home change for this long

files:
  - name: shared-home
    source: sftp://%[1]s@vm-%[1]s-1%[2]s
    target: /mnt/efs/%[1]s/shared
    # Not worth moving (%[3]s).
    # A pattern starting with "!" keeps what a later exclude would drop.
    exclude:
`, name, p.shared, p.why)
	for _, e := range p.excludes {
		if strings.HasPrefix(e, "!") {
			continue
		}
		fmt.Fprintf(&b, "      - %q\n", e)
	}
	var incl []string
	for _, e := range p.excludes {
		if strings.HasPrefix(e, "!") {
			incl = append(incl, e[1:])
		}
	}
	if len(incl) > 0 {
		b.WriteString("    include:\n")
		for _, e := range incl {
			fmt.Fprintf(&b, "      - %q\n", e)
		}
	}
	fmt.Fprintf(&b, `    # The VM's application user (uid/gid 1001 here) becomes 2001, the user of
    # Atlassian's container images.
    chown_map: {"1001": 2001}
    chgrp_map: {"1001": 2001}
    # presync reads at most this much a second from the VM, which still serves
    # users during rehearsals ("" or 0: no cap); the final is never capped.
    rehearsal_bwlimit: 100MB
    # presync also runs its find, tar and hashing there at nice 19 and the
    # lowest best-effort I/O priority: a busy VM slows the rehearsal, not the application.
    rehearsal_low_priority: true
    ssh_key: ~/.ssh/id_ed25519
    known_hosts: ~/.ssh/known_hosts
    # ssh_password_file: ~/.cutover-ssh-password   # where the VM takes passwords only (first line)
    # ssh_jump: admin@bastion.example.com          # when the VMs are reached through a bastion (as ssh -J)

databases:
  - name: %[1]s
    source: postgres://%[1]s@vm-db-1:5432/%[2]s          # password from PGPASSWORD or ~/.pgpass
    target: postgres://%[1]s@%[1]s.abc.eu-west-1.rds.amazonaws.com:5432/%[2]s?sslmode=verify-full&sslrootcert=/etc/ssl/rds-global-bundle.pem
    # presync copies into this database (replaced each time); leave it out to rehearse files only
    rehearsal_target: postgres://%[1]s@rehearsal-db:5432/%[2]s?sslmode=verify-full&sslrootcert=/etc/ssl/rds-global-bundle.pem
    aws_iam_auth: false      # true: an RDS IAM token for every connection (TLS required)
    aws_region: eu-west-1
    target_owner: %[1]s        # the application's role owns every restored object
`, name, p.db)
	if p.indexes != "" {
		fmt.Fprintf(&b, `
indexes:
  # Each node's own index, shipped from a healthy node (only the segment files that differ).
  - name: %[1]s-node-1
    source: sftp://%[1]s@%[1]s-node-0%[2]s/%[3]s
    target: %[2]s/%[3]s
    rehearsal_low_priority: true   # presync's tar and hashing on the healthy node at the lowest priority
`, name, p.local, p.indexes)
	}
	return b.String(), nil
}
