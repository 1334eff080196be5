-- ten:migration kind=contract
-- Test-only (build tag ten_testmigration_contract): a change older binaries
-- cannot survive, since they still write deploy_log.detail.
ALTER TABLE deploy_log DROP COLUMN detail;
