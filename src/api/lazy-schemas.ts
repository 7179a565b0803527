import SerializerSelector from '@fastify/fast-json-stringify-compiler';
import type { FastifySchemaCompiler } from 'fastify';

type Compile<F> = () => F;

/**
 * Route schemas compiled at first use. Compiling every route's validators (Ajv) and response serializers
 * (fast-json-stringify) when the server is built took about half a second of start-up, before `readyz`,
 * for routes most runs never call; each now compiles on its route's first request (a few ms once), and
 * the code of routes never called is never generated. `compileAll()` compiles whatever is still pending:
 * a test calls it to prove that every route's schemas compile, as start-up used to.
 */
export class LazySchemas {
  private readonly pending = new Set<() => void>();
  /** Every request schema handed to `validator` (a test checks each against JSON Schema's meta-schema). */
  readonly requestSchemas: object[] = [];

  /**
   * `compile` run at the first call of what this returns, once; until then it is pending. A compile that
   * throws stays pending (the next call, or compileAll, throws again). Past the first call nothing but
   * the compiled function is touched: these stand on every request's path.
   */
  private deferred<F>(compile: Compile<F>): () => F {
    let fn: F | undefined;
    const now = (): F => {
      if (fn === undefined) {
        fn = compile();
        this.pending.delete(now);
      }
      return fn;
    };
    this.pending.add(now);
    return now;
  }

  /** A validator that compiles on its first call; Ajv's `errors` are carried over for Fastify to read. */
  validator(compile: Compile<ReturnType<FastifySchemaCompiler<unknown>>>, schema?: object): ReturnType<FastifySchemaCompiler<unknown>> {
    if (schema !== undefined) this.requestSchemas.push(schema);
    type Validate = ((data: unknown, ctx?: unknown) => unknown) & { errors?: unknown; schemaEnv?: unknown };
    const inner = this.deferred(compile as Compile<Validate>);
    const validate: Validate = (data, ctx) => {
      const fn = inner();
      const ret = fn(data, ctx);
      validate.errors = fn.errors;
      return ret;
    };
    // Fastify passes the parent object (so that Ajv may coerce a root value in place) to Ajv's functions,
    // which it knows by this property: the wrapper stands for one.
    validate.schemaEnv = true;
    return validate as ReturnType<FastifySchemaCompiler<unknown>>;
  }

  serializer(compile: Compile<(data: unknown) => string>): (data: unknown) => string {
    const inner = this.deferred(compile);
    return (data) => inner()(data);
  }

  /** Fastify's own serializer factory (fast-json-stringify, with the shared schemas), each compile deferred. */
  serializerFactory(): SerializerSelector.SerializerFactory {
    const base = SerializerSelector();
    return (externalSchemas, options) => {
      const compile = base(externalSchemas, options);
      return (route) => this.serializer(() => compile(route));
    };
  }

  /** Schemas not compiled yet. */
  get pendingCount(): number {
    return this.pending.size;
  }

  /** Compiles every schema not compiled yet; returns how many. Throws what a broken schema throws. */
  compileAll(): number {
    const all = [...this.pending];
    for (const compile of all) compile();
    return all.length;
  }
}
