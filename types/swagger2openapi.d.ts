// swagger2openapi ships no types; only the call we use is declared.
declare module 'swagger2openapi' {
  const swagger2openapi: {
    convertObj(
      spec: unknown,
      options: { patch?: boolean; warnOnly?: boolean },
    ): Promise<{ openapi: unknown }>;
  };
  export default swagger2openapi;
}
