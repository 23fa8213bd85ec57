import { type DescMessage, type MessageShape, toBinary } from "@bufbuild/protobuf";
import { expect } from "vitest";

/**
 * A message the sidecar writes as a literal (for speed) is exactly the one
 * `create()` makes: the same properties, the same values, the same bytes.
 * A field added to the proto then fails here instead of going missing.
 */
export function expectAsCreated<Desc extends DescMessage>(schema: Desc, literal: MessageShape<Desc>, made: MessageShape<Desc>): void {
  expect(literal).toStrictEqual(made);
  expect(Object.keys(literal).sort()).toEqual(Object.keys(made).sort());
  expect(toBinary(schema, literal)).toEqual(toBinary(schema, made));
}
