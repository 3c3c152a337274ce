/** Shared with the adapter: see common/apim/errors.ts. */
export * from '../../common/apim/errors.ts';
