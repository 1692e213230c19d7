package config

import (
	"strings"
	"testing"

	"github.com/cutover/cutover/internal/errs"
)

func TestTemplatesParse(t *testing.T) {
	t.Setenv("HOME", "/home/u")
	for _, p := range Products {
		text, err := Template(p)
		if err != nil {
			t.Fatal(err)
		}
		c, err := Parse("/etc/cutover/cutover.yaml", []byte(text))
		if err != nil {
			t.Fatalf("%s: %v\n%s", p, err, text)
		}
		if c.State != "/etc/cutover/.cutover" || len(c.Files) != 1 || len(c.Databases) != 1 || c.Files[0].SSHKey != "/home/u/.ssh/id_ed25519" {
			t.Errorf("%s: %+v", p, c)
		}
		if IDMap(c.Files[0].ChownMap)[1001] != 2001 {
			t.Errorf("%s: chown_map %v", p, c.Files[0].ChownMap)
		}
		if len(c.Indexes) > 0 && !c.Indexes[0].RehearsalLowPriority {
			t.Errorf("%s: the index set's rehearsal_low_priority is off", p)
		}
		if c.Files[0].RehearsalRate != 100e6 || !c.Files[0].RehearsalLowPriority {
			t.Errorf("%s: rehearsal_bwlimit %q is %d bytes a second, rehearsal_low_priority %v", p, c.Files[0].RehearsalBWLimit, c.Files[0].RehearsalRate, c.Files[0].RehearsalLowPriority)
		}
	}
}

func TestErrorsNameTheLine(t *testing.T) {
	t.Setenv("DBPASS", "s3cret")
	for _, c := range []struct{ text, want string }{
		{"workers: 4\nfilez: []\n", "line 2: field filez not found"},
		{"workers: many\n", "line 1: cannot unmarshal"},
		{"files:\n  - name: a\n    source: /x\n    target: /y\n    bogus: 1\n", "line 5: field bogus not found"},
		{"files:\n  - name: a\n    source: /x\n    target: /y\n  - name: a\n    source: /x\n    target: /z\n", "c.yaml:5: files \"a\": the name is already used on line 2"},
		{"databases:\n  - name: d\n    source: postgres://u:${NOPE}@h/db\n    target: postgres://h/db\n", "c.yaml:3: ${NOPE} is not set"},
		{"verify: sometimes\nfiles:\n  - {name: a, source: /x, target: /y}\n", "verify: \"sometimes\""},
		{"files:\n  - name: a\n    source: /x\n", "c.yaml:2: files \"a\": source and target are required"},
		{"files:\n  - name: a\n    source: /x\n    target: /y\n    chown_map: {\"1000\": -1}\n", "c.yaml:2: files \"a\": chown_map 1000: -1 is not a pair of numeric uids"},
		{"files:\n  - name: a\n    source: /x\n    target: /y\n    chgrp_map: {\"4294967296\": 2001}\n", "chgrp_map 4294967296: 2001 is not a pair of numeric gids"},
		{"files:\n  - name: a\n    source: /x\n    target: /y\n    ssh_jump: sftp://bastion\n", "c.yaml:2: files \"a\": ssh_jump \"sftp://bastion\", want [user@]host[:port]"},
		{"files:\n  - name: a\n    source: /x\n    target: /y\n    rehearsal_bwlimit: slow\n", "c.yaml:2: files \"a\": rehearsal_bwlimit: \"slow\" is not a rate like 50MB"},
		{"files:\n  - name: a\n    source: /x\n    target: /y\n    rehearsal_bwlimit: -5MB\n", "rehearsal_bwlimit: \"-5MB\" is not a rate"},
	} {
		_, err := Parse("c.yaml", []byte(c.text))
		if err == nil || errs.ExitCode(err) != errs.ExitUsage || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%q: %v, want %q", c.text, err, c.want)
		}
	}
	c, err := Parse("c.yaml", []byte("databases:\n  - name: d\n    source: postgres://u:${DBPASS}@h/db\n    target: postgres://h/db\n"))
	if err != nil || !strings.Contains(c.Databases[0].Source, "s3cret") {
		t.Fatalf("interpolation: %v %+v", err, c)
	}
}

func TestSSHSettingsOfFileAndIndexSets(t *testing.T) {
	text := `files:
  - name: home
    source: sftp://jira@vm-1/var/atlassian/application-data/jira/shared
    target: /mnt/efs/shared
    ssh_key: keys/id_ed25519
    ssh_password_file: secrets/vm-password
    ssh_jump: ops@bastion:2222
indexes:
  - name: node-1
    source: sftp://jira@vm-2/var/atlassian/jira/caches/indexesV2
    target: /mnt/node-1/indexesV2
    ssh_jump: bastion
`
	c, err := Parse("/etc/cutover/cutover.yaml", []byte(text))
	if err != nil {
		t.Fatal(err)
	}
	f, x := c.Files[0].SSH, c.Indexes[0].SSH
	if f.SSHKey != "/etc/cutover/keys/id_ed25519" || f.SSHPasswordFile != "/etc/cutover/secrets/vm-password" || f.SSHJump != "ops@bastion:2222" || x.SSHJump != "bastion" {
		t.Fatalf("files %+v, indexes %+v", f, x)
	}
}

func TestRehearsalBWLimitIsARate(t *testing.T) {
	for in, want := range map[string]int64{"": 0, "rehearsal_bwlimit: 0": 0, "rehearsal_bwlimit: 50MB/s": 50e6, "rehearsal_bwlimit: 2MiB": 2 << 20} {
		c, err := Parse("c.yaml", []byte("files:\n  - name: a\n    source: /x\n    target: /y\n    "+in+"\n"))
		if err != nil || c.Files[0].RehearsalRate != want {
			t.Errorf("%q: %v, rate %v, want %d", in, err, c, want)
		}
	}
}
