-- Schema 2: several processes send one campaign at once.
--
-- Records are numbered by one sequence, whichever process writes them,
-- and carry their letter's key, so that a process reads what the others
-- recorded of the letters it takes over.
CREATE SEQUENCE mailmerge.record_seq;
SELECT setval('mailmerge.record_seq', coalesce((SELECT max(seq) FROM mailmerge.records), 0) + 1, false);
ALTER TABLE mailmerge.records ALTER COLUMN seq SET DEFAULT nextval('mailmerge.record_seq');
ALTER TABLE mailmerge.records ADD COLUMN letter text;
UPDATE mailmerge.records SET letter = rec->>'key';
CREATE INDEX records_letter ON mailmerge.records (campaign, letter);

-- A letter goes out only from the process that holds its lease: taken
-- for a while, renewed while the process lives, given back when it ends.
-- A lease that ran out is anybody's.
CREATE TABLE mailmerge.leases (
	campaign bigint NOT NULL REFERENCES mailmerge.campaigns (id),
	letter   text NOT NULL,
	owner    text NOT NULL,
	expires  timestamptz NOT NULL,
	PRIMARY KEY (campaign, letter)
);

-- An account's daily limit and rate, shared by the processes sending
-- through it: each takes room from them in grants, dated by the send's
-- clock; a grant counts for the window's length after it.
CREATE TABLE mailmerge.grants (
	id       bigserial PRIMARY KEY,
	campaign bigint NOT NULL REFERENCES mailmerge.campaigns (id),
	account  text NOT NULL,
	what     text NOT NULL, -- daily_limit or rate
	owner    text NOT NULL,
	at       timestamptz NOT NULL,
	n        int NOT NULL
);
CREATE INDEX grants_window ON mailmerge.grants (campaign, account, what, at);
