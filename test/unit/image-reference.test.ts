import { describe, expect, it } from 'vitest';
import { runtimeImageOf, splitImageReference } from '../../src/model/names.js';

describe('image references and runtime_version', () => {
  it.each([
    ['ghcr.io/autonomy-logic/openplc-runtime:latest', 'ghcr.io/autonomy-logic/openplc-runtime', 'latest'],
    ['ghcr.io/autonomy-logic/openplc-runtime', 'ghcr.io/autonomy-logic/openplc-runtime', 'latest'],
    ['localhost:5000/openplc:v2', 'localhost:5000/openplc', 'v2'],
    ['localhost:5000/openplc', 'localhost:5000/openplc', 'latest'],
    ['openplc', 'openplc', 'latest'],
    ['openplc@sha256:abcd', 'openplc', null],
    ['localhost:5000/openplc:v1@sha256:abcd', 'localhost:5000/openplc', null],
  ])('splits %s into its repository and tag', (reference, repository, tag) => {
    expect(splitImageReference(reference)).toEqual({ repository, tag });
  });

  it('runs --runtime-image as it is without a runtime_version, and its repository with the tag otherwise', () => {
    const configured = 'ghcr.io/autonomy-logic/openplc-runtime:latest';
    expect(runtimeImageOf(configured, undefined)).toBe(configured);
    expect(runtimeImageOf(configured, 'v2')).toBe('ghcr.io/autonomy-logic/openplc-runtime:v2');
    expect(runtimeImageOf('localhost:5000/openplc', 'v2')).toBe('localhost:5000/openplc:v2');
    expect(runtimeImageOf('localhost:5000/openplc@sha256:abcd', 'v2')).toBe('localhost:5000/openplc:v2');
  });
});
