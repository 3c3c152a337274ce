/** The Publisher client lives in common/apim/ so the adapter (whose image leaves functions/ out) shares it. */
export * from '../../common/apim/publisher-client.ts';
