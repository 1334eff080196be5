-- ten:migration kind=expand
-- Test-only (build tag ten_testmigration_expand): an additive change that
-- older binaries must tolerate.
CREATE TABLE test_expand (
    id INTEGER PRIMARY KEY,
    note TEXT
);
