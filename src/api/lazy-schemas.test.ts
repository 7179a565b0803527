import { Type } from '@sinclair/typebox';
import Fastify from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startVigil, type TestVigil } from '../../test/support/harness.js';
import { routeSchemas } from './server.js';
import { LazySchemas } from './lazy-schemas.js';
import { schemaProblems, validatorCompiler } from './validation.js';

describe('LazySchemas', () => {
  it('compiles a route\'s validator and serializer at its first request only, and they answer as eager ones do', async () => {
    const schemas = new LazySchemas();
    const app = Fastify({ schemaController: { compilersFactory: { buildSerializer: schemas.serializerFactory() } } });
    app.setValidatorCompiler((route) => schemas.validator(() => validatorCompiler(route)));
    app.addSchema({ $id: 'Error', type: 'object', properties: { message: { type: 'string' } } });
    const schema = {
      querystring: Type.Object({ n: Type.Integer({ minimum: 1 }) }),
      body: Type.Object({ name: Type.String({ minLength: 2 }) }, { additionalProperties: false }),
      response: { 200: Type.Object({ n: Type.Integer(), name: Type.String() }), 400: Type.Ref('Error') },
    };
    app.post('/a', { schema }, async (req) => ({ n: (req.query as { n: number }).n, name: (req.body as { name: string }).name, secret: 'not in the schema' }));
    app.post('/b', { schema }, async () => ({ n: 1, name: 'b' }));
    await app.ready();
    // Two routes × (query, body, 200, 400): nothing compiled by ready().
    expect(schemas.pendingCount).toBe(8);

    // The query string is coerced (text on the wire), the response serialized by its schema (extra fields dropped).
    const ok = await app.inject({ method: 'POST', url: '/a?n=3', payload: { name: 'cam' } });
    expect(ok.statusCode).toBe(200);
    expect(ok.json()).toEqual({ n: 3, name: 'cam' });
    // Ajv's errors reach Fastify through the wrapper: the field and the rule.
    const bad = await app.inject({ method: 'POST', url: '/a?n=0', payload: { name: 'cam' } });
    expect(bad.statusCode).toBe(400);
    expect(bad.json().message).toMatch(/querystring\/n must be >= 1/);
    const unknown = await app.inject({ method: 'POST', url: '/a?n=2', payload: { name: 'cam', x: 1 } });
    expect(unknown.statusCode).toBe(400);
    expect(unknown.json().message).toMatch(/additional properties/);
    // Route /a compiled (its query, body, 200 and 400), /b not.
    expect(schemas.pendingCount).toBe(4);
    expect(schemas.compileAll()).toBe(4);
    expect(schemas.compileAll()).toBe(0);
    await app.close();
  });

  it('compileAll throws what a broken schema throws (start-up no longer would)', () => {
    const schemas = new LazySchemas();
    schemas.validator(() => validatorCompiler({ schema: { type: 'object', properties: { a: { $ref: '#/nowhere' } } }, httpPart: 'body', method: 'POST', url: '/x' }));
    expect(() => schemas.compileAll()).toThrow(/nowhere/);
    // Still pending: asked again, it throws again rather than pass for compiled.
    expect(schemas.pendingCount).toBe(1);
    expect(() => schemas.compileAll()).toThrow(/nowhere/);
  });
});

describe('every route of Vigil\'s API', () => {
  let vigil: TestVigil;
  beforeAll(async () => {
    vigil = await startVigil();
  });
  afterAll(async () => {
    await vigil?.app.stop();
  });

  it('has schemas that compile, validators and serializers (start-up no longer compiles them)', () => {
    const schemas = routeSchemas.get(vigil.app.http)!;
    expect(schemas).toBeDefined();
    const n = schemas.compileAll();
    // ~75 routes, most with a query or body and a response schema or two.
    expect(n).toBeGreaterThan(100);
  });

  it('has request schemas that are valid JSON Schema (the validators no longer check them at run time)', () => {
    const schemas = routeSchemas.get(vigil.app.http)!;
    expect(schemas.requestSchemas.length).toBeGreaterThan(50);
    const problems = schemas.requestSchemas.map((s) => schemaProblems(s)).filter((p) => p !== undefined);
    expect(problems).toEqual([]);
    // The check can fail: a misspelt type, a minimum that is not a number.
    expect(schemaProblems({ type: 'objekt' })).toMatch(/type/);
    expect(schemaProblems({ type: 'object', properties: { n: { type: 'integer', minimum: 'one' } } })).toMatch(/minimum/);
  });
});
