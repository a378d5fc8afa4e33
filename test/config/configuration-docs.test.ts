import assert from 'node:assert/strict';
import { parse } from 'dotenv';
import { loadConfig } from '../../server/config/load-config.js';
import { renderConfigurationReference, renderEnvExample } from '../../scripts/render-configuration.js';
import { readRepoFile } from '../ops/repo-files.js';

/*
 * Each variable is described once (server/config/variable-docs.ts, beside the schema that reads it); .env.example and
 * docs/configuration.md are generated from that and must say exactly what the generator says (`npm run config-docs`).
 */

describe('configuration reference', () => {
  it('.env.example is what npm run config-docs writes', () => {
    assert.equal(readRepoFile('.env.example'), renderEnvExample());
  });

  it('docs/configuration.md is what npm run config-docs writes', () => {
    assert.equal(readRepoFile('docs/configuration.md'), renderConfigurationReference());
  });

  it('.env.example is a valid configuration as it stands', () => {
    const config = loadConfig(parse(readRepoFile('.env.example')));
    assert.equal(config.http.port, 8080);
  });
});
