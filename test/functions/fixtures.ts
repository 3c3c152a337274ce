/** Request-attributes events for the functions' tests (the builder lives with the analytics cases). */
export { analyticsCases, requestAttributes } from '../../functions/analytics-publisher/samples.ts';
